"""The "change my password" flow (authenticated), apart from any transport."""

from __future__ import annotations

import uuid

from shared.passwords import swap_password
from shared.sessions import TokenPair, continue_session


def change_password(
    user,
    new_password: str,
    *,
    ip: str | None,
    user_agent: str,
    language: str = "en",
    keep_token_family: uuid.UUID | None = None,
    keep_session_key: str | None = None,
) -> TokenPair | None:
    """Set a new password for a signed-in user and end their other sessions.

    Tokens issued before now stop working at once (their password fingerprint no longer
    matches); the worker then deletes the other sessions' whitelist rows and Django sessions.
    The caller's own session continues: with ``keep_token_family`` it gets a fresh token pair
    (returned), with ``keep_session_key`` its browser session is kept.
    """
    fresh_pair = None
    if keep_token_family is not None:

        def fresh_pair():
            return continue_session(user, keep_token_family, ip=ip, user_agent=user_agent)

    return swap_password(
        user, new_password, reason="change", ip=ip, user_agent=user_agent, language=language,
        keep_token_family=keep_token_family, keep_session_key=keep_session_key,
        in_same_transaction=fresh_pair,
    )  # fmt: skip
