"""JSON endpoints of "forgot my password": each view's serializer parses the body, then the view
calls one flow function (``shared.accounts.password_reset``, ``reset_codes``)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ErrorDetail
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api import request_origin
from api.fields import DetailSerializer, StrictCharField, StrictEmailField, password_field
from api.schema import (
    error_example,
    invalid_example,
    request_example,
    response_example,
)
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
NO_CODE = _("Enter the code from the email.")


def refused_new_password(exc: DjangoValidationError) -> serializers.ValidationError:
    """Each refusal on the field it is about: a rule the password breaks on ``new_password1``,
    where it was typed; the two passwords differing on ``new_password2``. Django's codes
    (``password_too_short``, ``password_mismatch``...) are kept for ``field_codes``."""
    errors: dict[str, list[ErrorDetail]] = {}
    for error in exc.error_list:
        field = "new_password2" if error.code == "password_mismatch" else "new_password1"
        errors.setdefault(field, []).extend(
            ErrorDetail(message, error.code or "invalid") for message in error.messages
        )
    return serializers.ValidationError(errors)


# What a front end sees, for the schema's examples.
A_UID, A_TOKEN = "MTI", "cj3k2x-9f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
A_NEW_PASSWORD = "correct horse battery staple"  # noqa: S105 - an example
TOO_SHORT = (
    "This password is too short. It must contain at least 12 characters.",
    "password_too_short",
)
TOO_COMMON = ("This password is too common.", "password_too_common")
MISMATCH = ("The two password fields didn’t match.", "password_mismatch")
THROTTLED_EXAMPLE = error_example(
    429, "Throttled", "Request was throttled. Expected available in 42 seconds.", "throttled"
)


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
            raise serializers.ValidationError(UNKNOWN_CLIENT, code="unknown_client")
        return value


class PasswordResetCodeSerializer(serializers.Serializer):
    """Its refusals about ``code`` are under ``non_field_errors`` (api/errors.py: a body's
    ``code`` is its error code), so each message says what it is about."""

    email = StrictEmailField(max_length=254)
    code = StrictCharField(
        max_length=32,
        help_text="The digits of the reset email; spaces and dashes are ignored.",
        error_messages={
            "required": NO_CODE, "blank": NO_CODE, "null": NO_CODE,
            "not_a_string": INVALID_CODE, "max_length": INVALID_CODE,
        },
    )  # fmt: skip

    def validate_code(self, value: str) -> str:
        code = normalise_code(value)
        if code is None:
            raise serializers.ValidationError(INVALID_CODE, code="invalid_code")
        return code


class ResetLinkPairSerializer(serializers.Serializer):
    uid = serializers.CharField(help_text="For `password/reset/confirm/`.")
    token = serializers.CharField(help_text="For `password/reset/confirm/`; works once.")


def invalid_link() -> serializers.ValidationError:
    return serializers.ValidationError({"token": [INVALID_LINK]}, code="invalid_link")


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64, help_text="From the emailed link (or a code exchange).")
    token = StrictCharField(max_length=128, help_text="From the emailed link; works once.")
    new_password1 = password_field(help_text="The new password; the rules' refusals are here.")
    new_password2 = password_field(help_text="The same again; a difference is reported here.")

    def validate(self, attrs):
        try:
            user = user_for_link(attrs["uid"], attrs["token"])
        except InvalidResetLink:
            raise invalid_link() from None
        try:
            validate_new_password(attrs["new_password1"], attrs["new_password2"], user)
        except DjangoValidationError as exc:
            raise refused_new_password(exc) from None
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
        examples=[
            request_example("An address", {"email": "ann@example.com"}),
            request_example("A link for the iOS app", {
                "email": "ann@example.com", "client": "ios"}),
            response_example(202, "Accepted, known address or not", {"detail": RESET_REQUESTED}),
            invalid_example("Malformed address", {
                "email": [("Enter a valid email address.", "invalid")]}),
            invalid_example("Unknown client", {"client": [(UNKNOWN_CLIENT, "unknown_client")]}),
            THROTTLED_EXAMPLE,
        ],
    )  # fmt: skip
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
            400: OpenApiResponse(
                description="`non_field_errors` (field code `invalid_code`): wrong or dead "
                "code, or unknown address, alike; `email`: malformed."
            ),
            429: THROTTLED,
        },
        examples=[
            request_example("The emailed code", {"email": "ann@example.com", "code": "4821 3907"}),
            response_example(200, "The link's uid and token", {"uid": A_UID, "token": A_TOKEN}),
            invalid_example("Wrong, dead or unknown", {
                "non_field_errors": [(INVALID_CODE, "invalid_code")]}),
            invalid_example("No code", {"non_field_errors": [(NO_CODE, "required")]}),
            THROTTLED_EXAMPLE,
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            uid, token = exchange_code(
                serializer.validated_data["email"], serializer.validated_data["code"]
            )
        except InvalidResetCode:
            raise serializers.ValidationError(INVALID_CODE, code="invalid_code") from None
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
                "`new_password1`: the password breaks a rule; `new_password2`: the two differ "
                "(the link is not spent by either)."
            ),
            429: THROTTLED,
        },
        examples=[
            request_example("From the link", {
                "uid": A_UID, "token": A_TOKEN,
                "new_password1": A_NEW_PASSWORD, "new_password2": A_NEW_PASSWORD}),
            response_example(200, "Password set", {"detail": RESET_DONE}),
            invalid_example("Dead link", {"token": [(INVALID_LINK, "invalid_link")]}),
            invalid_example("Password refused", {"new_password1": [TOO_SHORT, TOO_COMMON]}),
            invalid_example("Passwords differ", {"new_password2": [MISMATCH]}),
            THROTTLED_EXAMPLE,
        ],
    )  # fmt: skip
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
            raise invalid_link() from None
        return Response({"detail": RESET_DONE}, status=status.HTTP_200_OK)
