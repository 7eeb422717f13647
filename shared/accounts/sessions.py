"""JWT sessions whose refresh tokens live on a server-side whitelist (``RefreshToken``).

Tokens are djangorestframework-simplejwt's, with two claims of ours, copied into every access
token made from a refresh token:

* ``fam``: the session (refresh-token family) the token belongs to;
* ``pwd``: a keyed fingerprint of the user's password hash when the token was made. The
  authentication class compares it with the user row it loads anyway, so a password change
  rejects every older token at once, with no extra query (Django's session auth hash, for
  JWTs). Keyed with SECRET_KEY: the token is readable by its holder, the hash must not be;
* ``sst``: when the session began (its login), so that however often it is refreshed it ends
  ``SESSION_MAX_AGE`` seconds after that: no token of it expires later.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework_simplejwt.exceptions import TokenError

from shared.accounts.jwt_tokens import RefreshToken as JWTRefreshToken
from shared.models import RefreshToken

FAMILY_CLAIM = "fam"
PASSWORD_CLAIM = "pwd"  # noqa: S105 - a claim name
STARTED_CLAIM = "sst"


class SessionError(Exception):
    """The refresh token is invalid, expired, revoked or reused."""


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str
    family: uuid.UUID


def password_fingerprint(user: AbstractBaseUser) -> str:
    return salted_hmac(
        "resetpass.sessions.password_fingerprint", user.password, algorithm="sha256"
    ).hexdigest()[:32]


def token_matches_password(token, user: AbstractBaseUser) -> bool:
    return constant_time_compare(token.get(PASSWORD_CLAIM, ""), password_fingerprint(user))


def _issue(
    user: AbstractBaseUser, family: uuid.UUID, started: int
) -> tuple[JWTRefreshToken, TokenPair]:
    """A refresh token and its access token for ``family``, begun at ``started`` (a Unix
    time): neither outlives the session's absolute lifetime."""
    refresh = JWTRefreshToken.for_user(user)
    refresh[FAMILY_CLAIM] = str(family)
    refresh[PASSWORD_CLAIM] = password_fingerprint(user)
    refresh[STARTED_CLAIM] = started
    refresh["exp"] = min(refresh["exp"], started + settings.SESSION_MAX_AGE)
    access = refresh.access_token
    access["exp"] = min(access["exp"], refresh["exp"])
    pair = TokenPair(access=str(access), refresh=str(refresh), family=family)
    return refresh, pair


def _now() -> int:
    return int(timezone.now().timestamp())


def _expiry(refresh: JWTRefreshToken) -> datetime:
    return datetime.fromtimestamp(refresh["exp"], tz=timezone.get_current_timezone())


def start_session(user: AbstractBaseUser, *, ip: str | None, user_agent: str) -> TokenPair:
    """A new session (after login): a new family on the whitelist."""
    now = timezone.now()
    refresh, pair = _issue(user, uuid.uuid4(), int(now.timestamp()))
    RefreshToken.objects.create(
        jti=refresh["jti"], family=pair.family, user=user, created_at=now, last_used_at=now,
        expires_at=_expiry(refresh), ip=ip, user_agent=user_agent[:512],
    )  # fmt: skip
    return pair


def continue_session(
    user: AbstractBaseUser, family: uuid.UUID, *, ip: str | None, user_agent: str
) -> TokenPair:
    """A fresh pair for an existing family (after the caller changed their password)."""
    row = RefreshToken.objects.filter(user=user, family=family).only("created_at").first()
    if row is None:
        raise SessionError("this session has ended")
    refresh, pair = _issue(user, family, int(row.created_at.timestamp()))
    updated = RefreshToken.objects.filter(user=user, family=family).update(
        jti=refresh["jti"], last_used_at=timezone.now(), expires_at=_expiry(refresh),
        ip=ip, user_agent=user_agent[:512],
    )  # fmt: skip
    if not updated:
        raise SessionError("this session has ended")
    return pair


def _decode(raw: str) -> JWTRefreshToken:
    try:
        return JWTRefreshToken(raw)
    except TokenError as exc:
        raise SessionError(str(exc)) from None


def _family_of(token) -> uuid.UUID:
    try:
        return uuid.UUID(str(token[FAMILY_CLAIM]))
    except (KeyError, ValueError):
        raise SessionError("token has no session") from None


def rotate(raw: str, user_model, *, ip: str | None, user_agent: str) -> TokenPair:
    """Swap a refresh token for a new pair. A token already swapped out ends its session."""
    old = _decode(raw)
    family = _family_of(old)
    try:
        user = user_model._default_manager.get(pk=old["user_id"], is_active=True)
    except (user_model.DoesNotExist, KeyError, ValueError):
        raise SessionError("no such user") from None
    if not token_matches_password(old, user):
        raise SessionError("the password has changed since this token was issued")
    started = _started(old, family, user)
    if _now() - started >= settings.SESSION_MAX_AGE:
        RefreshToken.objects.filter(family=family, user=user).delete()
        raise SessionError("this session reached its maximum age; log in again")
    refresh, pair = _issue(user, family, started)
    swapped = RefreshToken.objects.filter(jti=old["jti"], family=family, user=user).update(
        jti=refresh["jti"], last_used_at=timezone.now(), expires_at=_expiry(refresh),
        ip=ip, user_agent=user_agent[:512],
    )  # fmt: skip
    if swapped != 1:
        # Not the family's current token: a stolen copy, or the thief's after the owner
        # refreshed. Nobody can tell which holder is genuine, so both lose the session.
        RefreshToken.objects.filter(family=family, user=user).delete()
        raise SessionError("refresh token reused; the session has been ended")
    return pair


def _started(token, family: uuid.UUID, user) -> int:
    """When ``token``'s session began: its claim, or for a token made before the claim existed,
    its whitelist row."""
    started = token.get(STARTED_CLAIM)
    if isinstance(started, int):
        return started
    row = RefreshToken.objects.filter(family=family, user=user).only("created_at").first()
    if row is None:
        raise SessionError("this session has ended")
    return int(row.created_at.timestamp())


def end_session(raw: str) -> None:
    """Logout: the family of ``raw`` leaves the whitelist."""
    token = _decode(raw)
    deleted, _ = RefreshToken.objects.filter(jti=token["jti"], family=_family_of(token)).delete()
    if not deleted:
        raise SessionError("this session has already ended")


def sessions_of(user: AbstractBaseUser):
    return RefreshToken.objects.filter(user=user, expires_at__gt=timezone.now()).order_by(
        "-last_used_at"
    )


def end_family(user: AbstractBaseUser, family: uuid.UUID) -> bool:
    deleted, _ = RefreshToken.objects.filter(user=user, family=family).delete()
    return bool(deleted)


def purge_expired() -> int:
    deleted, _ = RefreshToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
