"""What a request says about its client: address, user agent, language."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils import translation


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
            candidate = forwarded[-min(num_proxies, len(forwarded))]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return remote
    return remote


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


def no_store_no_referrer(response):
    """Reset and password responses: kept by no cache, and their URL (which may hold a token)
    sent to no other site as a Referer."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response
