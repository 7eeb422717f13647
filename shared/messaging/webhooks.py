"""Webhooks: other systems subscribe a URL to events and receive them signed.

The rules that matter are here, in this order: which addresses a webhook may reach (a
subscription is a way to make this service send requests, so a URL that resolves inside the
network it runs in must not be one), what a delivery says (``delivery_body``: the user id and
the reason, never the IP address or the browser), and how it is signed and sent
(Standard Webhooks: https://www.standardwebhooks.com/).

The address is checked when the subscription is made and again at every delivery, and the
delivery connects to the address that was checked (see ``post``), so a name that resolves to a
public address at the check and to a private one a moment later (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from socket import getaddrinfo
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from shared.messaging.events import SUBSCRIPTIONS, Event, Payload
from shared.models import WebhookSubscription

# The event types a subscription may name: those the ``webhooks`` queue handles.
EVENT_TYPES = tuple(
    event_type
    for event_type, subs in SUBSCRIPTIONS.items()
    if any(sub.queue == "webhooks" for sub in subs)
)
# What a delivery tells about an event: never the IP address or the browser it came from.
DATA_FIELDS = ("user_id", "reason", "email")
SECRET_BYTES = 32
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedURL(ValueError):
    """A URL webhooks may not reach: its scheme, or an address its host resolves to."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the one address the delivery connects to."""

    url: str
    host: str
    address: str


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # IPv6 forms that reach an IPv4 address: ::ffff:10.0.0.1, 2002:0a00:0001::, 64:ff9b::a00:1.
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(text: str) -> str | None:
    """Why webhooks may not reach this address, or None when they may."""
    ip = ipaddress.ip_address(text.split("%", 1)[0])  # a scope (fe80::1%eth0) changes nothing
    if ip.version == 6 and (embedded := _embedded_ipv4(ip)):
        ip = embedded
    if ip.is_unspecified or ip.is_multicast:
        return "an unspecified or multicast address"  # no receiver lives there, ever
    if ip.is_loopback and settings.DEBUG:
        return None
    if ip.is_global or settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    return "a private, loopback, link-local or reserved address"


def check_url(url: str) -> Target:
    """Resolve ``url``'s host and check every address it has; raises RefusedURL.

    ``https://`` only, but ``http://`` to loopback while DEBUG is on (local receivers). Every
    address the name resolves to must be allowed, not just one: otherwise a name with one public
    and one private address would pass, and the connection might take the private one."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedURL("not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedURL("the URL must be https://")
    if not parts.netloc.isascii():
        raise RefusedURL("write the host in ASCII (an IDN as punycode, xn--...)")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL("the URL may not hold credentials")
    try:
        infos = getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise RefusedURL("the host does not resolve") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise RefusedURL("the host does not resolve")
    for address in addresses:
        if reason := address_refusal(address):
            raise RefusedURL(f"the host resolves to {reason}")
    if parts.scheme == "http" and not (
        settings.DEBUG and all(ipaddress.ip_address(a.split("%")[0]).is_loopback
                               for a in addresses)
    ):  # fmt: skip
        raise RefusedURL("the URL must be https:// (http:// only to loopback with DEBUG on)")
    return Target(url=url, host=parts.hostname, address=addresses[0])


def subscribe(url: str, events: list[str]) -> WebhookSubscription:
    """A new subscription of ``url`` to ``events``, with a new secret. Raises RefusedURL."""
    check_url(url)
    return WebhookSubscription.objects.create(
        url=url, events=list(dict.fromkeys(events)), secret=new_secret()
    )


def subscribers(event_type: str) -> list[WebhookSubscription]:
    """The active subscriptions that name ``event_type``."""
    # Filtered here rather than in SQL: JSON containment differs between SQLite and PostgreSQL,
    # and subscriptions are few.
    rows = WebhookSubscription.objects.filter(active=True).order_by("pk")
    return [row for row in rows if event_type in row.events]


def delivery_body(event: Event, payload: Payload) -> str:
    """What a receiver gets: ``{type, timestamp, data}``; the data is the user id and, where
    the event has them, the reason and the address. Never the IP address or user agent."""
    fields = payload.model_dump(mode="json")
    if "new_email" in fields:  # email.changed: the address the account has now
        fields["email"] = fields["new_email"]
    data = {name: fields[name] for name in DATA_FIELDS if fields.get(name) is not None}
    timestamp = event.occurred_at.isoformat().replace("+00:00", "Z")
    return json.dumps({"type": event.type, "timestamp": timestamp, "data": data})


def signed_headers(secret: str, message_id: str, body: str, now: datetime | None = None) -> dict:
    """The Standard Webhooks headers. The id is the same for every try of one delivery, so a
    receiver can drop a repeat; the timestamp is the try's own (receivers refuse old ones)."""
    now = now or datetime.now(UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
        "content-type": "application/json",
    }


def post(subscription: WebhookSubscription, message_id: str, body: str) -> httpx.Response:
    """Check the subscription's URL again, then POST the signed body to the checked address.

    The connection goes to that IP address itself; the name travels in the Host header and, for
    https, as the TLS server name (SNI), against which the certificate is verified. No second
    lookup happens between the check and the connection. Raises RefusedURL or httpx.HTTPError.
    """
    target = check_url(subscription.url)
    parts = urlsplit(target.url)
    ip = ipaddress.ip_address(target.address.split("%")[0])
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host = parts.netloc.rpartition("@")[2]
    headers = {"host": host, **signed_headers(subscription.secret, message_id, body)}
    # No proxies from the environment (they would connect wherever they like) and no redirects
    # (a 3xx could point anywhere): a 3xx is a failed delivery.
    with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT, trust_env=False) as client:
        return client.post(
            pinned, content=body.encode(), headers=headers,
            extensions={"sni_hostname": target.host} if parts.scheme == "https" else {},
        )  # fmt: skip
