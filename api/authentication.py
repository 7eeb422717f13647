"""Bearer authentication: simplejwt's, plus the password fingerprint check."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed

from shared.accounts.sessions import token_matches_password


class SessionJWTAuthentication(JWTAuthentication):
    """Rejects tokens issued before the user's last password change. The user row is loaded
    by simplejwt already; comparing a claim with it costs no query."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not token_matches_password(validated_token, user):
            raise AuthenticationFailed(_("This session has ended."), code="password_changed")
        return user
