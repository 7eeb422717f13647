"""What a request says about its client: address, user agent, language."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils import translation


def parse_address(text: str) -> str | None:
    """An IP address as proxies write it in X-Forwarded-For: ``203.0.113.7``, ``2001:db8::1``,
    or with a port, ``203.0.113.7:4711`` and ``[2001:db8::1]:4711`` (Azure, some CDNs).
    None if it is none of these."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address. X-Forwarded-For is believed only for the NUM_PROXIES trusted
    proxies in front of us (each appends one address), so a client cannot forge it."""
    remote = request.META.get("REMOTE_ADDR") or None
    num_proxies = settings.NUM_PROXIES
    if num_proxies > 0:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        ]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            return parse_address(forwarded[-min(num_proxies, len(forwarded))]) or remote
    return remote


def rate_limit_ip(request) -> str | None:
    """The key of the client's address for per-IP rate limits. An IPv6 client is counted by
    its /64, the block one subscriber gets: otherwise it could take a new address for every
    request. An IPv4-mapped IPv6 address counts as the IPv4 address it maps."""
    ip = client_ip(request)
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return ip


def user_agent(request) -> str:
    """The User-Agent header, printable characters only (PostgreSQL refuses NUL in text, and
    the value ends up in an email), at most 512 of them."""
    raw = request.META.get("HTTP_USER_AGENT", "")
    return "".join(ch for ch in raw if ch.isprintable())[:512]


def language(request) -> str:
    return translation.get_language_from_request(request) or settings.LANGUAGE_CODE


def device(request) -> dict[str, str | None]:
    """The requester's ``ip`` and ``user_agent``, as a session records them."""
    return {"ip": client_ip(request), "user_agent": user_agent(request)}


def origin(request) -> dict[str, str | None]:
    """Who asked, as the flows record it in their events: ``ip``, ``user_agent``, ``language``."""
    return {**device(request), "language": language(request)}


def no_store(response):
    """Reset and password responses: kept by no cache. (Their Referrer-Policy is the site's,
    ``same-origin``: only the link's own URL holds a token, and it sends none; see
    ``api.views.accounts.PasswordResetConfirmView``.)"""
    response["Cache-Control"] = "no-store"
    return response
