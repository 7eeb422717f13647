"""What emails say about the browser behind a request: "Chrome 120 on Windows 10".

A User-Agent header is whatever the client chose to send, an attacker's included, and mail
clients render HTML and turn anything that looks like an address into a link. So emails never
quote it: they name the browser and the system that ua-parser recognises in it, and only in
letters, digits, spaces and a few harmless characters.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext as _
from ua_parser import parse

# No dot and no colon: nothing a mail client could take for a host name, an address or a URL.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _/()+-]{0,39}")
_SAFE_VERSION = re.compile(r"[A-Za-z0-9]{1,10}")


def _name(part) -> str | None:
    """``family major`` of a parsed browser or system, or None if it is not safe to show."""
    if part is None:
        return None
    family = " ".join(str(part.family or "").split())
    if family == "Other" or not _SAFE_NAME.fullmatch(family):
        return None
    major = part.major or ""
    return f"{family} {major}" if _SAFE_VERSION.fullmatch(major) else family


def describe_user_agent(user_agent: str) -> str:
    """The browser and system named by ``user_agent``, in the active language: "Chrome 120 on
    Windows 10", "an unknown browser on Linux", or "an unknown browser"; never its raw text."""
    parsed = parse(user_agent) if user_agent else None
    browser = _name(parsed.user_agent) if parsed else None
    system = _name(parsed.os) if parsed else None
    if browser and system:
        return _("%(browser)s on %(system)s") % {"browser": browser, "system": system}
    if browser:
        return browser
    if system:
        return _("an unknown browser on %(system)s") % {"system": system}
    return _("an unknown browser")
