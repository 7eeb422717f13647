"""Users managed by other services through the admin API: create, change, deactivate, delete.

Plain functions, so the admin API, a management command or a test call the same rules.
Closing an account (deactivating or deleting it) is like a password change: every token of
the user is refused at once, because an inactive or deleted user authenticates nowhere (JWT,
refresh, browser session), and ``account.locked`` is published in the same transaction so a
worker removes what is left of the sessions.
"""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model, password_validation
from django.db import IntegrityError, transaction
from django.utils import timezone

from shared.accounts.browser_sessions import end_browser_sessions
from shared.accounts.email_change import email_in_use
from shared.accounts.password_hashes import is_recognised_hash
from shared.messaging.events import AccountLockedV1, EmailChangedV1, make_event
from shared.messaging.publisher import publish
from shared.models import RefreshToken

# Database ids beyond this cannot exist (a 64-bit key); a lookup must not reach the database.
MAX_USER_ID = 2**63 - 1
_NOT_USERNAME = re.compile(r"[^\w.@+-]")


class EmailTaken(Exception):
    """Another account already uses this address (compared case-insensitively)."""


class UsernameTaken(Exception):
    """Another account already has this username."""


def _users():
    return get_user_model()._default_manager


def get_user(user_id: int):
    """The user with this id, or None."""
    if not 0 < user_id <= MAX_USER_ID:
        return None
    return _users().filter(pk=user_id).first()


def users_by_email(email: str | None):
    """Every user, or those whose address is ``email`` regardless of case; oldest first."""
    rows = _users().order_by("pk")
    if email and "\x00" in email:  # no address has one, and PostgreSQL refuses the query
        return rows.none()
    return rows.filter(email__iexact=email) if email else rows


def derive_username(email: str) -> str:
    """A free username from the address's local part: ``ann.lee`` then ``ann.lee-2`` ..."""
    max_length = get_user_model()._meta.get_field("username").max_length
    base = _NOT_USERNAME.sub("", email.rpartition("@")[0])[: max_length - 8] or "user"
    candidate, n = base, 1
    while _users().filter(username__iexact=candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def validate_password_for(password: str, *, email: str, username: str | None) -> None:
    """Django's password rules, the new user's fields known (similarity). Raises
    ValidationError."""
    candidate = get_user_model()(email=email, username=username or "")
    password_validation.validate_password(password, candidate)


def create_user(
    *,
    email: str,
    username: str | None = None,
    password: str | None = None,
    password_hash: str | None = None,
    is_active: bool = True,
):
    """A new account. ``password`` is hashed, ``password_hash`` kept as given (a hash a
    configured hasher recognises: checked here), neither makes the password unusable.

    Raises EmailTaken, UsernameTaken, ValueError (both password forms, or a foreign hash);
    the caller validates ``password`` against the rules first (``validate_password_for``).
    """
    if password is not None and password_hash is not None:
        raise ValueError("give a password or a password hash, not both")
    if password_hash is not None and not is_recognised_hash(password_hash):
        raise ValueError("no configured password hasher recognises this hash")
    User = get_user_model()  # noqa: N806
    email = User._default_manager.normalize_email(email)
    if email_in_use(email):
        raise EmailTaken
    if username and _users().filter(username__iexact=username).exists():
        raise UsernameTaken
    user = User(email=email, username=username or derive_username(email), is_active=is_active)
    if password_hash is not None:
        user.password = password_hash
    else:
        user.set_password(password)  # None: unusable
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise UsernameTaken from None  # taken by a concurrent create
    if password is not None:
        password_validation.password_changed(password, user)
    return user


def update_user(user, *, email: str | None = None, is_active: bool | None = None):
    """Change the address and/or the active flag. Deactivating ends every session and token
    (``account.locked``, reason ``deactivated``); a new address kills outstanding reset links
    (the token covers the address) and publishes ``email.changed``. Raises EmailTaken."""
    User = get_user_model()  # noqa: N806
    with transaction.atomic():
        if email is not None:
            email = User._default_manager.normalize_email(email)
            if email_in_use(email, besides=user):
                raise EmailTaken
            old_email = user.email or ""
            User._default_manager.filter(pk=user.pk).update(email=email)
            user.email = email
            if email.casefold() != old_email.casefold():
                # The old address is told, with a "this wasn't me" link, as after a change
                # the user made themselves.
                publish(
                    make_event(
                        EmailChangedV1(
                            user_id=user.pk, old_email=old_email, new_email=email,
                            changed_at=timezone.now(),
                        )
                    )
                )  # fmt: skip
        if is_active is False:
            deactivate_user(user)
        elif is_active is True:
            reactivate_user(user)
    return user


def deactivate_user(user) -> bool:
    """Make ``user`` inactive and publish ``account.locked`` if it was active. Returns whether
    it was."""
    with transaction.atomic():
        changed = (
            get_user_model()
            ._default_manager.filter(pk=user.pk, is_active=True)
            .update(is_active=False)
        )
        user.is_active = False
        if changed:
            publish(
                make_event(
                    AccountLockedV1(user_id=user.pk, reason="deactivated", locked_at=timezone.now())
                )
            )
    return bool(changed)


def reactivate_user(user) -> None:
    """Let an inactive user log in again, with none of the sessions they had: if the worker
    has not ended them yet (``account.locked`` still queued), they must not come back."""
    with transaction.atomic():
        if (
            get_user_model()
            ._default_manager.filter(pk=user.pk, is_active=False)
            .update(is_active=True)
        ):
            RefreshToken.objects.filter(user_id=user.pk).delete()
            end_browser_sessions(user.pk, before=timezone.now())
        user.is_active = True


def delete_user(user) -> None:
    """Delete ``user``. Tokens and session records cascade; the Django sessions themselves
    are not linked to the user row, so they end here, while the index of them still exists.
    ``account.locked`` (reason ``deleted``) tells the other systems."""
    user_id = user.pk
    with transaction.atomic():
        now = timezone.now()
        end_browser_sessions(user_id, before=now)
        user.delete()
        publish(make_event(AccountLockedV1(user_id=user_id, reason="deleted", locked_at=now)))
