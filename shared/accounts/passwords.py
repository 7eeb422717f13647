"""Setting a password, for any reason: validated, swapped atomically, announced; and the
"change my password" flow (signed in), apart from any transport.

Both flows that set a password (a completed reset, a change) end here, so both get the same
guarantees: the new password and its ``password.changed`` event are committed in one
transaction (no password without its event, no event without its password), and the swap is a
compare-and-set on the old hash, so two requests racing on one password cannot both win.
"""

from __future__ import annotations

import uuid

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from shared.accounts.sessions import TokenPair, continue_session
from shared.messaging.events import PasswordChangedV1, make_event
from shared.messaging.publisher import publish


class PasswordChangedMeanwhile(Exception):
    """The password (or email) changed between reading the user and writing the new hash."""


def validate_new_password(password1: str, password2: str, user) -> None:
    """Raise ValidationError (with the reasons) unless the two match and pass the rules."""
    if password1 != password2:
        # Django's own wording, so its translations apply.
        raise ValidationError(
            SetPasswordForm.error_messages["password_mismatch"], code="password_mismatch"
        )
    password_validation.validate_password(password1, user)


def swap_password(
    user,
    new_password: str | None,
    *,
    reason: str,
    ip: str | None,
    user_agent: str,
    language: str = "en",
    keep_token_family: uuid.UUID | None = None,
    keep_session_key: str | None = None,
    in_same_transaction=None,
):
    """Replace ``user``'s password hash, as read into ``user``, and publish password.changed.

    ``new_password`` None makes the password unusable (an admin turning password login off).

    ``in_same_transaction`` (optional) runs inside the transaction after the swap, e.g. to
    give the caller's session fresh tokens; its result is returned.
    """
    User = get_user_model()  # noqa: N806
    email_field = User.get_email_field_name()
    new_hash = make_password(new_password)  # slow on purpose: done before taking any lock
    with transaction.atomic():
        swapped = User._default_manager.filter(
            pk=user.pk, password=user.password, **{email_field: getattr(user, email_field)}
        ).update(password=new_hash)
        if swapped != 1:
            raise PasswordChangedMeanwhile
        user.password = new_hash
        result = in_same_transaction() if in_same_transaction else None
        publish(
            make_event(
                PasswordChangedV1(
                    user_id=user.pk, reason=reason, ip=ip, user_agent=user_agent,
                    language=language, changed_at=timezone.now(),
                    keep_token_family=str(keep_token_family) if keep_token_family else None,
                    keep_session_key=keep_session_key,
                )
            )
        )  # fmt: skip
    if new_password is not None:
        password_validation.password_changed(new_password, user)
    return result


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
