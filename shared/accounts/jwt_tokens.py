"""simplejwt's tokens, signed with this service's key and naming it (``kid``) in their header.

simplejwt signs with one key and verifies with one key. Here each token names its key, and is
verified with the public key that ``kid`` names among the current and the previous ones
(``shared.accounts.signing_keys``): a rotation does not log anybody out. Tokens also carry ``sub``
(the user id, as a string, as RFC 7519 and PyJWT want it), ``iss`` and ``aud``.
"""

from __future__ import annotations

from functools import cache

import jwt
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.tokens import AccessToken as SimpleAccessToken
from rest_framework_simplejwt.tokens import RefreshToken as SimpleRefreshToken

from shared.accounts.signing_keys import SigningKeys


class KeyedTokenBackend(TokenBackend):
    """simplejwt's backend with a ``kid`` in each header, verified by the key it names."""

    def __init__(self, keys: SigningKeys, *, audience: str, issuer: str):
        super().__init__(
            keys.algorithm, keys.signing_key, keys.public_pem, audience=audience, issuer=issuer
        )
        self.keys = keys

    def encode(self, payload: dict) -> str:
        claims = {**payload, "aud": self.audience, "iss": self.issuer}
        headers = {"kid": self.keys.kid} if self.keys.kid else None
        return jwt.encode(claims, self.prepared_signing_key, algorithm=self.algorithm,
                          headers=headers)  # fmt: skip

    def get_verifying_key(self, token):
        if self.keys.kid is None:  # HS256: the shared secret
            return self.prepared_signing_key
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError(_("Token is invalid")) from exc
        key = self.keys.verifying_keys.get(kid)
        if key is None:
            raise TokenBackendError(_("Token is invalid"))
        return key


@cache
def token_backend() -> KeyedTokenBackend:
    """The process's backend, from the settings (read once: keys do not change while it runs)."""
    return KeyedTokenBackend(
        settings.JWT_SIGNING_KEYS, audience=settings.JWT_AUDIENCE, issuer=settings.JWT_ISSUER
    )


@receiver(setting_changed, dispatch_uid="resetpass.jwt_tokens.settings")
def _settings_changed(setting, **kwargs) -> None:
    if setting.startswith("JWT_"):  # tests rotate keys
        token_backend.cache_clear()


class AccessToken(SimpleAccessToken):
    @property
    def token_backend(self) -> KeyedTokenBackend:
        return token_backend()


class RefreshToken(SimpleRefreshToken):
    access_token_class = AccessToken

    @property
    def token_backend(self) -> KeyedTokenBackend:
        return token_backend()

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token["sub"] = str(user.pk)
        return token
