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
from api.schema import error_example, invalid_example, request_example, response_example
from api.throttles import ChangeUserThrottle
from api.views.password_reset import (
    A_NEW_PASSWORD,
    MISMATCH,
    TOO_COMMON,
    TOO_SHORT,
    ResetResponseMixin,
    refused_new_password,
)
from api.views.sessions import A_REFRESH_TOKEN, AN_ACCESS_TOKEN, SESSION_ENDED, TokenPairSerializer
from shared.accounts.passwords import (
    PasswordChangedMeanwhile,
    change_password,
    validate_new_password,
)
from shared.accounts.sessions import FAMILY_CLAIM, SessionError

PASSWORD_CHANGED = _("Your password has been changed. Your other sessions have ended.")
WRONG_OLD_PASSWORD = _("Your old password was entered incorrectly.")


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
                {"old_password": [WRONG_OLD_PASSWORD]}, code="wrong_password"
            )
        try:
            validate_new_password(attrs["new_password1"], attrs["new_password2"], user)
        except DjangoValidationError as exc:
            raise refused_new_password(exc) from None
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
                   400: OpenApiResponse(description="`old_password`: wrong; `new_password1`: "
                                        "breaks a rule; `new_password2`: the two differ."),
                   401: OpenApiResponse(description="Missing, invalid or revoked access token."),
                   429: OpenApiResponse(description="Too many attempts for this user.")},
        examples=[
            request_example("A new password", {
                "old_password": "an old long passphrase",
                "new_password1": A_NEW_PASSWORD, "new_password2": A_NEW_PASSWORD}),
            response_example(200, "Changed; the caller's fresh pair", {
                "detail": PASSWORD_CHANGED, "access": AN_ACCESS_TOKEN,
                "refresh": A_REFRESH_TOKEN}),
            invalid_example("Wrong old password", {
                "old_password": [(WRONG_OLD_PASSWORD, "wrong_password")]}),
            invalid_example("Password refused", {"new_password1": [TOO_SHORT, TOO_COMMON]}),
            invalid_example("Passwords differ", {"new_password2": [MISMATCH]}),
            error_example(429, "Throttled",
                          "Request was throttled. Expected available in 42 seconds.",
                          "throttled"),
        ],
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
            raise AuthenticationFailed(SESSION_ENDED, code="token_not_valid") from None
        return Response(
            {"detail": PASSWORD_CHANGED, "access": pair.access, "refresh": pair.refresh}
        )
