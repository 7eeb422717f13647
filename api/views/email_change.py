"""POST /api/auth/email/change/ (signed in) and /api/auth/email/change/confirm/ (the link's
uid and token): moving an account to a new address (``shared.accounts.email_change``)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import request_origin
from api.authentication import SessionJWTAuthentication
from api.fields import DetailSerializer, StrictCharField, StrictEmailField
from api.schema import invalid_example, request_example, response_example
from api.throttles import ChangeUserThrottle, ConfirmIPThrottle
from api.views.password_reset import (
    A_TOKEN,
    A_UID,
    THROTTLED,
    THROTTLED_EXAMPLE,
    ResetResponseMixin,
)
from shared.accounts import change_links
from shared.accounts.email_change import (
    SAME_ADDRESS,
    WRONG_PASSWORD,
    confirm_email_change,
    is_current_address,
    request_email_change,
)
from shared.models import ChangeLink

CHANGE_REQUESTED = _(
    "Check the new address: a link to confirm it is on its way. Your address changes once you "
    "open it."
)
EMAIL_CHANGED = _("Your email address has been changed.")
INVALID_LINK = _("This confirmation link is invalid, expired or already used.")


class EmailChangeSerializer(serializers.Serializer):
    password = StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True,
        help_text="The caller's current password.",
    )  # fmt: skip
    new_email = StrictEmailField(max_length=254)

    def validate(self, attrs):
        user = self.context["request"].user
        if not user.check_password(attrs["password"]):
            raise serializers.ValidationError({"password": [WRONG_PASSWORD]}, code="wrong_password")
        if is_current_address(user, attrs["new_email"]):
            raise serializers.ValidationError({"new_email": [SAME_ADDRESS]}, code="same_address")
        return attrs


def invalid_link() -> serializers.ValidationError:
    return serializers.ValidationError({"token": [INVALID_LINK]}, code="invalid_link")


class EmailChangeConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=128)

    def validate(self, attrs):
        try:
            attrs["link"] = change_links.find(
                ChangeLink.Purpose.CONFIRM_EMAIL, attrs["uid"], attrs["token"]
            )
        except change_links.DeadLink:
            raise invalid_link() from None
        return attrs


class EmailChangeView(ResetResponseMixin, GenericAPIView):
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ChangeUserThrottle]
    serializer_class = EmailChangeSerializer

    @extend_schema(
        summary="Move the caller's account to a new email address",
        description="A confirmation link goes to the new address; the address changes when it "
        "is confirmed (`email/change/confirm/`). If another account uses the new address, the "
        "answer is the same and that address is told someone tried instead. The old address "
        "is then mailed a notice with a \"this wasn't me\" link.",
        responses={202: DetailSerializer,
                   400: OpenApiResponse(description="`password`: wrong; `new_email`: malformed "
                                        "or already the account's."),
                   401: OpenApiResponse(description="Missing, invalid or revoked access token."),
                   429: OpenApiResponse(description="Too many attempts for this user.")},
        examples=[
            request_example("A new address", {"password": "correct horse battery staple",
                                              "new_email": "ann@example.org"}),
            response_example(202, "Confirmation link sent", {"detail": CHANGE_REQUESTED}),
            invalid_example("Wrong password", {"password": [(WRONG_PASSWORD, "wrong_password")]}),
            invalid_example("Same address", {"new_email": [(SAME_ADDRESS, "same_address")]}),
            THROTTLED_EXAMPLE,
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        request_email_change(
            request.user, serializer.validated_data["new_email"], **request_origin.origin(request)
        )
        return Response({"detail": CHANGE_REQUESTED}, status=status.HTTP_202_ACCEPTED)


class EmailChangeConfirmView(ResetResponseMixin, GenericAPIView):
    serializer_class = EmailChangeConfirmSerializer
    throttle_classes = [ConfirmIPThrottle]

    @extend_schema(
        summary="Confirm a new email address with the uid and token of its link",
        description="Works once, within EMAIL_CHANGE_TIMEOUT, and only while the account's "
        "password and address are those it was asked with. Reset links and codes sent before "
        "stop working.",
        responses={200: DetailSerializer,
                   400: OpenApiResponse(description="`token`: invalid, expired, used or "
                                        "superseded link, or the address was taken since."),
                   429: THROTTLED},
        examples=[
            request_example("From the link", {"uid": A_UID, "token": A_TOKEN}),
            response_example(200, "Address changed", {"detail": EMAIL_CHANGED}),
            invalid_example("Dead link", {"token": [(INVALID_LINK, "invalid_link")]}),
            THROTTLED_EXAMPLE,
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            confirm_email_change(
                serializer.validated_data["link"], **request_origin.origin(request)
            )
        except change_links.DeadLink:
            raise invalid_link() from None
        return Response({"detail": EMAIL_CHANGED}, status=status.HTTP_200_OK)
