"""``account.locked``: end every session and refresh token the account had (``security``); after
"this wasn't me", mail a fresh reset link to the address on the account (``email``)."""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.utils import translation

from shared.accounts.browser_sessions import end_browser_sessions
from shared.accounts.password_reset import email_of
from shared.messaging.events import ACCOUNT_LOCKED, AccountLockedV1, Event
from shared.models import RefreshToken
from workers.handler_tasks import handles
from workers.handlers.password_reset import mail_reset_link

log = logging.getLogger(__name__)


@handles(ACCOUNT_LOCKED)
def end_locked_account_sessions(event: Event, payload: AccountLockedV1) -> None:
    """Delete the user's whitelisted refresh tokens and Django sessions begun before the lock.

    The tokens were refused from the moment of the lock already (an inactive or deleted user
    authenticates nowhere); this removes what is left. Sessions begun after it (the account
    reactivated, then a new login) are untouched. Reads only this user's rows.
    """
    deleted_tokens, _ = RefreshToken.objects.filter(
        user_id=payload.user_id, created_at__lte=payload.locked_at
    ).delete()
    ended = end_browser_sessions(payload.user_id, before=payload.locked_at)
    log.info(
        "account %s of user %s (%s): %d refresh token(s) and %d browser session(s) ended",
        event.id, payload.user_id, payload.reason, deleted_tokens, ended,
    )  # fmt: skip


@handles(ACCOUNT_LOCKED)
def send_account_locked_reset_link(event: Event, payload: AccountLockedV1) -> None:
    """After "this wasn't me": a fresh reset link (and code) to the address on the account, which
    a lock after an address change has just given back. Other locks (an administrator's) mail
    nothing: their reason is not the user's to undo."""
    if payload.reason != "not_me":
        return
    if not payload.reset_link:
        log.warning(
            "account %s of user %s: locked, but its old address could not be given back; no "
            "reset link mailed (an operator must check who holds the address)",
            event.id, payload.user_id,
        )  # fmt: skip
        return
    user = get_user_model()._default_manager.filter(pk=payload.user_id, is_active=True).first()
    if user is None or not email_of(user):
        return
    with translation.override(payload.language):
        mail_reset_link(user, template="account_locked")
    log.info("account %s of user %s: reset link mailed after the lock", event.id, user.pk)
