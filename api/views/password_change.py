"""POST /api/auth/password/change/: a new password for the signed-in caller."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import request_origin
from api.authentication import SessionJWTAuthentication
from api.fields import StrictCharField, password_field
from api.throttles import ChangeUserThrottle
from api.views.password_reset import ResetResponseMixin
from api.views.sessions import SESSION_ENDED, TokenPairSerializer
from shared.accounts.passwords import (
    PasswordChangedMeanwhile,
    change_password,
    validate_new_password,
)
from shared.accounts.sessions import FAMILY_CLAIM, SessionError

PASSWORD_CHANGED = _("Your password has been changed. Your other sessions have ended.")


class PasswordChangeSerializer(serializers.Serializer):
    old_password = StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True
    )
    new_password1 = password_field()
    new_password2 = password_field()

    def validate(self, attrs):
        user = self.context["request"].user
        if not user.check_password(attrs["old_password"]):
            raise serializers.ValidationError(
                {"old_password": [_("Your old password was entered incorrectly.")]}
            )
        try:
            validate_new_password(attrs["new_password1"], attrs["new_password2"], user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password2": list(exc.messages)}) from None
        return attrs


class PasswordChangedSerializer(TokenPairSerializer):
    detail = serializers.CharField()


class PasswordChangeView(ResetResponseMixin, GenericAPIView):
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ChangeUserThrottle]
    serializer_class = PasswordChangeSerializer

    @extend_schema(
        summary="Change the caller's password",
        description="Every other session ends at once; the caller's continues with the fresh "
        "pair in the response.",
        responses={200: PasswordChangedSerializer,
                   400: OpenApiResponse(description="Wrong old password, or a refused new one."),
                   401: OpenApiResponse(description="Missing, invalid or revoked access token."),
                   429: OpenApiResponse(description="Too many attempts for this user.")},
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = change_password(
                request.user,
                serializer.validated_data["new_password1"],
                **request_origin.origin(request),
                keep_token_family=uuid.UUID(str(request.auth[FAMILY_CLAIM])),
            )
        except (PasswordChangedMeanwhile, SessionError, KeyError, ValueError):
            raise AuthenticationFailed(SESSION_ENDED) from None
        return Response(
            {"detail": PASSWORD_CHANGED, "access": pair.access, "refresh": pair.refresh}
        )
