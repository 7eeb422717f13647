"""Rendering and sending templated email: a subject, a text part and an HTML part.

Each worker thread keeps its SMTP connection open between messages: the TCP and TLS handshake,
EHLO and AUTH are paid once per connection instead of once per email, which is most of the
cost of a message on a remote server. A connection idle for long, or dropped by the server, is
replaced.
"""

from __future__ import annotations

import contextlib
import secrets
import smtplib
import threading
import time
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils.translation import gettext

IDLE_LIMIT = 30.0  # seconds; servers commonly drop idle clients after a minute or more

_local = threading.local()


def _open_connection():
    connection = get_connection()
    connection.open()  # opened here, the backend leaves it open after each send
    _local.connection = connection
    _local.used_at = time.monotonic()
    return connection


def close_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):  # it is being thrown away
            connection.close()


def _connection():
    connection = getattr(_local, "connection", None)
    if connection is None or time.monotonic() - _local.used_at > IDLE_LIMIT:
        close_connection()
        connection = _open_connection()
    return connection


class TemplatedEmail(EmailMultiAlternatives):
    """Django's message with its MIME boundary chosen here, once the parts are known. Left to
    the email package, the boundary is picked while the message is written, and a regular
    expression is compiled from it to check that no part contains it: a new pattern for every
    message (about 5 % of a reset email's CPU), which also pushes the process's other patterns
    out of ``re``'s cache. A substring test keeps the same guarantee."""

    def message(self, *args, **kwargs):
        message = super().message(*args, **kwargs)
        if message.is_multipart():
            parts = [self.body, *(content for content, _ in self.alternatives)]
            while True:
                boundary = f"==============={secrets.token_hex(16)}=="
                if not any(boundary in str(part) for part in parts):
                    break
            message.set_boundary(boundary)
        return message


def account_name(user, *, with_address: bool = True) -> str:
    """How an email names the account it is about: its username, with its address when that
    says more (``alice (alice@example.com)``). ``with_address=False`` names no address at all,
    not even a username that is one: empty then."""
    username = user.get_username()
    address = getattr(user, user.get_email_field_name(), "") or ""
    if not with_address:
        return "" if "@" in username else username
    if not address or address.casefold() == username.casefold():
        return username or address
    return f"{username} ({address})"


def site_name() -> str:
    """``SITE_NAME`` on one line: it goes into headers."""
    return " ".join(settings.SITE_NAME.split())


def sender() -> str:
    """``DEFAULT_FROM_EMAIL``, under the service's name when it gives no name of its own."""
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return settings.DEFAULT_FROM_EMAIL if name else formataddr((site_name(), address))


def send_templated_email(template: str, *, to: str, context: dict) -> None:
    """Send ``emails/<template>_subject.txt``, ``.txt`` and ``.html`` rendered with ``context``.

    Every template also gets ``site_name`` (``SITE_NAME``) and, when the context has a
    ``user``, ``account`` (:func:`account_name`); the subject starts with the site's name."""
    context = {"site_name": site_name(), **context}
    if "account" not in context and context.get("user") is not None:
        context["account"] = account_name(context["user"])
    # Translators: an email's subject, after the name of the service that sends it.
    subject = gettext("%(site_name)s: %(subject)s") % {
        "site_name": context["site_name"],
        "subject": render_to_string(f"emails/{template}_subject.txt", context),
    }
    subject = " ".join(subject.split())  # one line: a newline would break the header
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_to_string(f"emails/{template}.html", context)
    for attempt in (1, 2):
        message = TemplatedEmail(subject, text, sender(), [to], connection=_connection())
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            close_connection()
            if attempt == 2:
                raise  # the handler's retry policy takes it from here
            continue  # a kept connection went stale: one more try on a fresh one
        except Exception:
            close_connection()
            raise
        _local.used_at = time.monotonic()
        return
