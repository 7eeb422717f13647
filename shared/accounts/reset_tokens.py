"""Password reset tokens and codes: Django's tokens, bound to one more piece of state.

Django's ``PasswordResetTokenGenerator`` already gives us what a reset token must be: an HMAC
(keyed with SECRET_KEY, compared in constant time) over the user's id, password hash, last
login and email plus a timestamp, so a token is unguessable, bound to one user, expires after
PASSWORD_RESET_TIMEOUT, and dies when the password, the email or the last login changes.

It does not make a token die when a *newer* link is sent: every token of a user stays valid
until one of them is used. We add a per-user nonce (``PasswordResetNonce``) to the hashed
state and rotate it whenever a link is issued, so only the newest link works. Nothing about a
token is stored; the nonce alone cannot forge one.

The code mailed with a link (``shared.accounts.reset_codes``) is stored as a keyed hash over the
code and that same state, so it dies with the link: when a newer link is sent, when either one sets
a password, when the address changes or the user logs in.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils import timezone
from django.utils.crypto import salted_hmac

from shared.infra.upsert import upsert
from shared.models import PasswordResetNonce

CODE_KEY_SALT = "resetpass.tokens.reset_code"


def current_nonce(user) -> str:
    cached = getattr(user, "_reset_nonce", None)
    if cached is not None:
        return cached
    nonce = PasswordResetNonce.objects.filter(user_id=user.pk).values_list("value", flat=True)
    return next(iter(nonce), "")


def rotate_nonce(user, *, code: str | None = None) -> None:
    """Kill every outstanding link and code of ``user``: one upsert, whoever wrote last wins.
    With ``code``, that code becomes the one live code, alongside the link made next."""
    value = secrets.token_hex(16)
    user._reset_nonce = value  # the token made next, in this process, needs no read
    row = {"user": user.pk, "value": value, "code_hash": "", "code_expires_at": None}
    if code is not None:
        row["code_hash"] = reset_code_digest(user, code)
        row["code_expires_at"] = timezone.now() + timedelta(seconds=settings.RESET_CODE_TIMEOUT)
    upsert(PasswordResetNonce, row, conflict=["user"], update=[k for k in row if k != "user"])


class ResetTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "resetpass.tokens.ResetTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return super()._make_hash_value(user, timestamp) + current_nonce(user)

    def state_of(self, user) -> str:
        """What a token of ``user`` is bound to, without its timestamp."""
        return self._make_hash_value(user, "")

    def issue(self, user, *, code: str | None = None) -> str:
        """A token for a link about to be sent: the links and codes sent before it stop
        working; ``code``, if given, is mailed with it and works as long as it does."""
        rotate_nonce(user, code=code)
        return self.make_token(user)


reset_token_generator = ResetTokenGenerator()


def reset_code_digest(user, code: str) -> str:
    """The stored form of a reset code: HMAC-SHA256 keyed with SECRET_KEY over the code and
    the state the user's reset tokens are bound to (``user``'s nonce must be current)."""
    message = f"{reset_token_generator.state_of(user)}:{code}"
    return salted_hmac(CODE_KEY_SALT, message, algorithm="sha256").hexdigest()
