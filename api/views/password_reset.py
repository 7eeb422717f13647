"""JSON endpoints of "forgot my password": each view's serializer parses the body, then the view
calls one flow function (``shared.accounts.password_reset``, ``reset_codes``)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api import request_origin
from api.fields import DetailSerializer, StrictCharField, StrictEmailField, password_field
from api.throttles import CodeIPThrottle, ConfirmIPThrottle, ResetIPThrottle
from shared.accounts.password_reset import (
    InvalidResetLink,
    complete_password_reset,
    request_password_reset,
    user_for_link,
)
from shared.accounts.passwords import validate_new_password
from shared.accounts.reset_codes import InvalidResetCode, exchange_code, normalise_code

RESET_REQUESTED = _("If an account uses this address, a link to reset its password is on its way.")
RESET_DONE = _("Your password has been reset. You can now log in with it.")

THROTTLED = OpenApiResponse(description="Too many requests; retry after Retry-After seconds.")

INVALID_LINK = _("This password reset link is invalid, expired or already used. Ask for a new one.")

UNKNOWN_CLIENT = _("Unknown client.")
INVALID_CODE = _("This code is wrong, expired or already used. Check it, or ask for a new email.")


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    client = StrictCharField(
        max_length=32,
        required=False,
        help_text="The front end whose link the email should carry: a name from the "
        "RESET_CLIENTS setting. Without it the link is FRONTEND_RESET_URL's, or this "
        "service's own page. An unknown name is a 400 whatever the address.",
    )

    def validate_client(self, value: str) -> str:
        if value not in settings.RESET_CLIENTS:
            raise serializers.ValidationError(UNKNOWN_CLIENT)
        return value


class PasswordResetCodeSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    code = StrictCharField(
        max_length=32, help_text="The digits of the reset email; spaces and dashes are ignored."
    )

    def validate_code(self, value: str) -> str:
        code = normalise_code(value)
        if code is None:
            raise serializers.ValidationError(INVALID_CODE)
        return code


class ResetLinkPairSerializer(serializers.Serializer):
    uid = serializers.CharField(help_text="For `password/reset/confirm/`.")
    token = serializers.CharField(help_text="For `password/reset/confirm/`; works once.")


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=128)
    new_password1 = password_field()
    new_password2 = password_field()

    def validate(self, attrs):
        try:
            user = user_for_link(attrs["uid"], attrs["token"])
        except InvalidResetLink:
            raise serializers.ValidationError({"token": [INVALID_LINK]}) from None
        try:
            validate_new_password(attrs["new_password1"], attrs["new_password2"], user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password2": list(exc.messages)}) from None
        attrs["user"] = user
        return attrs


class ResetResponseMixin:
    """No reset response is cached."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return request_origin.no_store(response)


class PasswordResetView(ResetResponseMixin, GenericAPIView):
    """Ask for a reset link. The answer is the same whether or not an account uses the address."""

    serializer_class = PasswordResetRequestSerializer
    throttle_classes = [ResetIPThrottle]

    @extend_schema(
        summary="Request a password reset email",
        responses={
            202: DetailSerializer,
            400: OpenApiResponse(
                description="Malformed, missing, repeated or non-string email; unknown client."
            ),
            429: THROTTLED,
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        request_password_reset(
            email=serializer.validated_data["email"],
            client=serializer.validated_data.get("client"),
            **request_origin.origin(request),
        )
        return Response({"detail": RESET_REQUESTED}, status=status.HTTP_202_ACCEPTED)


class PasswordResetCodeView(ResetResponseMixin, GenericAPIView):
    """Exchange the code of a reset email, with the address it went to, for the uid and token
    of its link. Nothing is spent until ``confirm/`` sets the password."""

    serializer_class = PasswordResetCodeSerializer
    throttle_classes = [CodeIPThrottle]

    @extend_schema(
        summary="Exchange a reset code for the link's uid and token",
        description="A wrong code, an unknown address and a dead code (superseded by a newer "
        "email, used, expired, or out of tries) get the same answer. A code dies after "
        "RESET_CODE_MAX_ATTEMPTS wrong tries and RESET_CODE_TIMEOUT seconds.",
        responses={
            200: ResetLinkPairSerializer,
            400: OpenApiResponse(description="`code`: wrong or dead; `email`: malformed."),
            429: THROTTLED,
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            uid, token = exchange_code(
                serializer.validated_data["email"], serializer.validated_data["code"]
            )
        except InvalidResetCode:
            return Response({"code": [INVALID_CODE]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"uid": uid, "token": token}, status=status.HTTP_200_OK)


class PasswordResetConfirmView(ResetResponseMixin, GenericAPIView):
    """Set a new password with the uid and token of an emailed link. The link works once; a
    password the rules refuse does not spend it."""

    serializer_class = PasswordResetConfirmSerializer
    throttle_classes = [ConfirmIPThrottle]

    @extend_schema(
        summary="Set a new password from a reset link",
        responses={
            200: DetailSerializer,
            400: OpenApiResponse(
                description="`token`: invalid, expired, used or superseded link; "
                "`new_password2`: the passwords differ or break a rule (link not spent)."
            ),
            429: THROTTLED,
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            complete_password_reset(
                serializer.validated_data["user"],
                serializer.validated_data["new_password1"],
                **request_origin.origin(request),
            )
        except InvalidResetLink:
            return Response({"token": [INVALID_LINK]}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"detail": RESET_DONE}, status=status.HTTP_200_OK)
