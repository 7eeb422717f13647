"""Bearer authentication: simplejwt's, plus the password fingerprint check."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken

from shared.accounts.sessions import token_matches_password

SESSION_ENDED_BY_CHANGE = _("This session has ended.")


class SessionJWTAuthentication(JWTAuthentication):
    """Rejects tokens issued before the user's last password change. The user row is loaded
    by simplejwt already; comparing a claim with it costs no query."""

    def get_validated_token(self, raw_token):
        # simplejwt's refusal lists, in ``messages``, what each token class made of the token
        # ("Token is expired", "Token is invalid"): the one thing it says is the detail of
        # an error like any other (api/errors.py), same code.
        try:
            return super().get_validated_token(raw_token)
        except InvalidToken as exc:
            messages = exc.detail.get("messages") or [{}]
            detail = messages[0].get("message") or InvalidToken.default_detail
            raise InvalidToken(detail) from None

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not token_matches_password(validated_token, user):
            raise AuthenticationFailed(SESSION_ENDED_BY_CHANGE, code="password_changed")
        return user
