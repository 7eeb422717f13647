"""``account.locked``: end every session and refresh token the account had (``security``)."""

from __future__ import annotations

import logging

from shared.accounts.browser_sessions import end_browser_sessions
from shared.messaging.events import ACCOUNT_LOCKED, AccountLockedV1, Event
from shared.models import RefreshToken
from workers.handler_tasks import handles

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
