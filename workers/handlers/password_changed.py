"""``password.changed``: end the user's other sessions (``security``), tell them (``email``)."""

from __future__ import annotations

import ipaddress
import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation

from shared.accounts import change_links
from shared.accounts.browser_sessions import end_browser_sessions
from shared.accounts.password_reset import email_of
from shared.messaging.events import PASSWORD_CHANGED, Event, PasswordChangedV1
from shared.models import ChangeLink, RefreshToken
from workers.emails import send_templated_email
from workers.handler_tasks import handles
from workers.user_agents import describe_user_agent

log = logging.getLogger(__name__)


@handles(PASSWORD_CHANGED)
def revoke_user_sessions(event: Event, payload: PasswordChangedV1) -> None:
    """Delete the whitelist rows and Django sessions begun before the change, but the caller's.

    Their tokens were already refused from the moment of the change (password fingerprint);
    this removes what is left. Sessions begun after the change (a new login with the new
    password) are untouched. Reads only this user's rows, through indexes on (user, created).
    """
    tokens = RefreshToken.objects.filter(
        user_id=payload.user_id, created_at__lte=payload.changed_at
    )
    if payload.keep_token_family:
        tokens = tokens.exclude(family=uuid.UUID(payload.keep_token_family))
    deleted_tokens, _ = tokens.delete()
    ended = end_browser_sessions(
        payload.user_id, before=payload.changed_at, keep=payload.keep_session_key
    )
    log.info(
        "password change %s of user %s: %d refresh token(s) and %d browser session(s) ended",
        event.id, payload.user_id, deleted_tokens, ended,
    )  # fmt: skip


@handles(PASSWORD_CHANGED)
def send_password_changed_notice(event: Event, payload: PasswordChangedV1) -> None:
    """Tell the user when, from which IP address and which browser their password was set,
    with a "this wasn't me" link that locks the account (``shared.accounts.not_me``).

    Not after a forced reset: the user is mailed a reset link that says what happened, and a
    second mail saying "your password was changed" would only confuse (and look like phishing).
    """
    if payload.reason == "forced":
        return
    user = get_user_model()._default_manager.filter(pk=payload.user_id).first()
    if user is None or not email_of(user):
        return
    not_me = not_me_context(user, event, sent_to=email_of(user))
    if not_me is None:
        return
    with translation.override(payload.language):
        send_templated_email(
            "password_changed",
            to=email_of(user),
            context={
                "user": user,
                "reason": payload.reason,
                "changed_at": payload.changed_at,
                "ip": display_ip(payload.ip),
                # Never the User-Agent text itself: the requester chose it, links and all.
                "device": describe_user_agent(payload.user_agent),
                **not_me,
            },
        )


def not_me_context(
    user, event: Event, *, sent_to: str, after_address_change: bool = False
) -> dict | None:
    """The "this wasn't me" link of the change ``event`` tells of, for its notice to
    ``sent_to``. A lock from it gives the account that address back, whatever the change was:
    an intruder who changed the password and then the address must not receive the fresh
    reset link the lock mails.

    None, and no notice, for a change a lock has undone already (made between a disowned
    change and the lock, handled after it): its notice may go to an address the intruder set,
    and a link in it would give that address back."""
    url = change_links.issue(
        user, ChangeLink.Purpose.NOT_ME, change_id=event.id, asked_at=event.occurred_at,
        old_email=sent_to,
    )  # fmt: skip
    if url is None:
        log.info("change %s of user %s: undone by a lock since, no notice", event.id, user.pk)
        return None
    return {
        "not_me_url": url,
        "not_me_days": max(1, settings.NOT_ME_TIMEOUT // 86400),
        "restores_email": after_address_change,
    }


def display_ip(text: str | None) -> str:
    try:
        return str(ipaddress.ip_address(text or ""))
    except ValueError:
        return ""
