"""``password.reset_requested`` on the ``email`` queue: mail a reset link to each account."""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse
from django.utils import translation

from shared.accounts.password_reset import email_of, issue_reset, users_for_reset
from shared.infra import ratelimit
from shared.infra.redaction import hash_for_log
from shared.messaging.events import PASSWORD_RESET_REQUESTED, Event, PasswordResetRequestedV1
from workers.emails import send_templated_email
from workers.handler_tasks import handles

log = logging.getLogger(__name__)


def within_daily_cap(user, event: Event) -> bool:
    """Whether ``user`` may be sent this event's reset email (``reset_email_daily``, per
    account). The API caps each address; this caps the account, whatever address or entry
    point asked. A retried event counts once."""
    return ratelimit.hit("reset_email_daily", f"account:{user.pk}", once_for=str(event.id)) is None


def mail_reset_link(
    user, *, template: str = "password_reset", requested_ip=None, client: str | None = None
) -> None:
    """Mail ``user``, at the address stored on the account, a fresh reset link and code (the
    ones sent before stop working), the link in ``client``'s form (``RESET_CLIENTS``).
    ``password_reset_forced`` tells of a forced reset instead."""
    reset = issue_reset(user, client=client)
    send_templated_email(
        template,
        to=email_of(user),
        context={
            "user": user,
            "reset_url": reset.link,
            "reset_code": reset.code,
            "lifetime_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
            "code_lifetime_minutes": settings.RESET_CODE_TIMEOUT // 60,
            "site_url": settings.PUBLIC_BASE_URL,
            "code_url": settings.PUBLIC_BASE_URL + reverse("password_reset_code"),
            "requested_ip": requested_ip,
        },
    )


@handles(PASSWORD_RESET_REQUESTED)
def send_password_reset_email(event: Event, payload: PasswordResetRequestedV1) -> None:
    found = users_for_reset(payload.email)
    users = [user for user in found if within_daily_cap(user, event)]
    with translation.override(payload.language):
        for user in users:
            mail_reset_link(user, requested_ip=payload.ip, client=payload.client)
        if not found and settings.RESET_NOTIFY_UNKNOWN_EMAIL:
            send_templated_email(
                "password_reset_unknown",
                to=payload.email,
                context={"site_url": settings.PUBLIC_BASE_URL, "email": payload.email},
            )
    log.info(
        "reset request %s for %s: %d account(s) mailed, %d over their daily cap",
        event.id, hash_for_log(payload.email), len(users), len(found) - len(users),
    )  # fmt: skip
