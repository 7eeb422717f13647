"""DEBUG only, loopback only: read what the local SMTP sink (``make run``) received, under
var/mail/. Every message there holds a live reset link, so the page answers only with DEBUG on
and only a client on this machine: one whose socket address is loopback and that came through
no proxy (a proxy on this machine would make every client look local)."""

from __future__ import annotations

import email
import email.policy
import ipaddress
import re
from pathlib import Path

from csp.decorators import csp_update
from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render

from shared.infra.config import VAR_DIR


def mail_dir() -> Path:
    return VAR_DIR / "mail"


def _load(path: Path):
    with path.open("rb") as fh:
        return email.message_from_binary_file(fh, policy=email.policy.default)


def _from_this_machine(request) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def _debug_only(view):
    def wrapped(request, *args, **kwargs):
        # The Host header is the client's to choose: only the socket's address counts.
        if not settings.DEBUG or not _from_this_machine(request):
            raise Http404("the mail page exists only with DEBUG on, for this machine")
        return view(request, *args, **kwargs)

    return wrapped


@_debug_only
def mailbox(request):
    files = sorted(mail_dir().glob("*.eml"), reverse=True)[:200]
    messages = []
    for path in files:
        msg = _load(path)
        messages.append(
            {"name": path.stem, "to": msg["To"], "subject": msg["Subject"], "date": msg["Date"]}
        )
    return render(request, "dev/mailbox.html", {"messages": messages, "mail_dir": mail_dir()})


# The headers the message page shows.
SHOWN_HEADERS = ("From", "To", "Date", "Subject", "Message-ID")

# The HTML part itself, framed by the message page: an email styles itself inline, so this
# document alone may; it runs nothing (a sandbox without scripts, and no script-src), loads
# nothing (images inline only), posts nowhere, and only this origin's page may frame it. Its
# links open outside the frame, as new tabs out of the sandbox.
HTML_PART_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
LINKS_IN_NEW_TABS = '<base target="_blank">'


@_debug_only
@csp_update({"frame-src": ["'self'"]})  # the HTML part's frame; that part sets its own policy
def message(request, name: str):
    """A message: its headers, its HTML part (``?part=html`` serves that part alone, for the
    page's frame) and its text part."""
    path = mail_dir() / f"{name}.eml"
    if not name.replace("-", "").replace("_", "").isalnum() or not path.is_file():
        raise Http404("no such message")
    msg = _load(path)
    html = msg.get_body(preferencelist=("html",))
    if request.GET.get("part") == "html":
        if html is None:
            raise Http404("this message has no HTML part")
        return _html_part(html.get_content())
    text = msg.get_body(preferencelist=("plain",))
    return render(
        request,
        "dev/message.html",
        {
            "msg": msg,
            "name": name,
            "has_html": html is not None,
            "text": text.get_content() if text else "",
            "headers": [(k, v) for k, v in msg.items() if k in SHOWN_HEADERS],
        },
    )


def _html_part(content: str) -> HttpResponse:
    head = re.search(r"<head\b[^>]*>", content, re.IGNORECASE)
    at = head.end() if head else 0
    response = HttpResponse(content[:at] + LINKS_IN_NEW_TABS + content[at:])
    response["Content-Security-Policy"] = HTML_PART_POLICY
    response["X-Frame-Options"] = "SAMEORIGIN"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response
