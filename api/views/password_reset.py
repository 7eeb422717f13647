"""JSON endpoints of "forgot my password". Each view parses, then calls one flow function."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api import request_origin
from api.serializers import (
    INVALID_CODE,
    INVALID_LINK,
    DetailSerializer,
    PasswordResetCodeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    ResetLinkPairSerializer,
)
from api.throttles import CodeIPThrottle, ConfirmIPThrottle, ResetIPThrottle
from shared.accounts.password_reset import (
    InvalidResetLink,
    complete_password_reset,
    request_password_reset,
)
from shared.accounts.reset_codes import InvalidResetCode, exchange_code

RESET_REQUESTED = _("If an account uses this address, a link to reset its password is on its way.")
RESET_DONE = _("Your password has been reset. You can now log in with it.")

THROTTLED = OpenApiResponse(description="Too many requests; retry after Retry-After seconds.")


class ResetResponseMixin:
    """No reset response is cached, and none leaks its URL through a Referer."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        return request_origin.no_store_no_referrer(response)


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
