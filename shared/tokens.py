"""Password reset tokens: Django's, bound to one more piece of state.

Django's ``PasswordResetTokenGenerator`` already gives us what a reset token must be: an HMAC
(keyed with SECRET_KEY, compared in constant time) over the user's id, password hash, last
login and email plus a timestamp, so a token is unguessable, bound to one user, expires after
PASSWORD_RESET_TIMEOUT, and dies when the password, the email or the last login changes.

It does not make a token die when a *newer* link is sent: every token of a user stays valid
until one of them is used. We add a per-user nonce (``PasswordResetNonce``) to the hashed
state and rotate it whenever a link is issued, so only the newest link works. Nothing about a
token is stored; the nonce alone cannot forge one.
"""

from __future__ import annotations

import secrets

from django.contrib.auth.tokens import PasswordResetTokenGenerator

from shared.models import PasswordResetNonce
from shared.upsert import upsert


def current_nonce(user) -> str:
    cached = getattr(user, "_reset_nonce", None)
    if cached is not None:
        return cached
    nonce = PasswordResetNonce.objects.filter(user_id=user.pk).values_list("value", flat=True)
    return next(iter(nonce), "")


def rotate_nonce(user) -> None:
    """Kill every outstanding link of ``user``: one upsert, whoever wrote last wins."""
    value = secrets.token_hex(16)
    upsert(PasswordResetNonce, {"user": user.pk, "value": value}, conflict=["user"],
           update=["value"])  # fmt: skip
    user._reset_nonce = value  # the token made next, in this process, needs no read


class ResetTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "resetpass.tokens.ResetTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return super()._make_hash_value(user, timestamp) + current_nonce(user)

    def issue(self, user) -> str:
        """A token for a link about to be sent: the links sent before it stop working."""
        rotate_nonce(user)
        return self.make_token(user)


reset_token_generator = ResetTokenGenerator()
