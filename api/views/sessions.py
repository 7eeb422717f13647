"""JSON endpoints of JWT sessions: login, refresh, logout, and the list of one's sessions."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, ErrorDetail, NotFound, Throttled
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import request_origin
from api.authentication import SessionJWTAuthentication
from api.errors import NON_FIELD_ERRORS
from api.fields import DetailSerializer, StrictCharField, StrictEmailField
from api.schema import error_example, invalid_example, request_example, response_example
from api.throttles import LoginIPThrottle
from shared.accounts import sessions
from shared.accounts.login_attempts import LOCKED_ATTRIBUTE

BAD_CREDENTIALS = _("Unable to log in with the provided credentials.")
ACCOUNT_LOCKED = _("Too many failed attempts to log in to this account. Try again later.")
SESSION_ENDED = _("This session has ended. Log in again.")
EMAIL_OR_USERNAME = _("Give either an email or a username.")
LOGGED_OUT = _("Logged out.")
NO_SUCH_SESSION = _("No such session.")
UNAUTHORIZED = OpenApiResponse(description="Invalid, expired, revoked or reused token.")

# What a front end sees, for the schema's examples.
AN_ACCESS_TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6Ik5sQ2k...In0.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIi..."  # noqa: S105
A_REFRESH_TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6Ik5sQ2k...In0.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCI..."  # noqa: S105
PAIR = {"access": AN_ACCESS_TOKEN, "refresh": A_REFRESH_TOKEN}
SESSION_ENDED_EXAMPLE = error_example(401, "Session ended", SESSION_ENDED, "token_not_valid")


class LoginSerializer(serializers.Serializer):
    """dj-rest-auth's fields: ``email`` or ``username``, and ``password``."""

    email = StrictEmailField(max_length=254, required=False, help_text="Or `username`.")
    username = StrictCharField(max_length=150, required=False, help_text="Or `email`.")
    password = StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True
    )

    def to_internal_value(self, data):
        # A body with neither way to log in is told of both, whatever else is wrong with it
        # (DRF would report the missing password alone, and never reach ``validate``).
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = exc.detail
            neither = isinstance(data, Mapping) and not (data.get("email") or data.get("username"))
            if neither and isinstance(errors, dict) and not {"email", "username"} & errors.keys():
                errors = {NON_FIELD_ERRORS: [self._email_or_username()], **errors}
                raise serializers.ValidationError(errors) from None
            raise

    def validate(self, attrs):
        if bool(attrs.get("email")) == bool(attrs.get("username")):
            raise serializers.ValidationError({NON_FIELD_ERRORS: [self._email_or_username()]})
        return attrs

    @staticmethod
    def _email_or_username():
        return ErrorDetail(str(EMAIL_OR_USERNAME), code="email_or_username")


class RefreshSerializer(serializers.Serializer):
    refresh = StrictCharField(max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="family")
    created = serializers.DateTimeField(source="created_at")
    last_used = serializers.DateTimeField(source="last_used_at")
    ip = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    current = serializers.SerializerMethodField()

    def get_current(self, row) -> bool:
        return str(row.family) == self.context.get("current_family")


class TokenEndpointMixin:
    """These endpoints take credentials in the body, not a header; a refusal is still a 401
    (DRF answers 403 when a view has no authentication scheme to name)."""

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class LoginView(TokenEndpointMixin, GenericAPIView):
    serializer_class = LoginSerializer
    throttle_classes = [LoginIPThrottle]

    @extend_schema(
        summary="Log in: a new session and its token pair",
        responses={200: TokenPairSerializer,
                   400: OpenApiResponse(description="Malformed body; neither (or both) of "
                                        "`email` and `username` (`non_field_errors`)."),
                   401: OpenApiResponse(description="Bad credentials."),
                   429: OpenApiResponse(description="Too many attempts from this address, or "
                                        "too many failed ones on this account (Retry-After).")},
        examples=[
            request_example("By email", {"email": "ann@example.com",
                                         "password": "correct horse battery staple"}),
            request_example("By username", {"username": "ann",
                                            "password": "correct horse battery staple"}),
            response_example(200, "A new session", PAIR),
            invalid_example("Empty body", {
                NON_FIELD_ERRORS: [(EMAIL_OR_USERNAME, "email_or_username")],
                "password": [("This field is required.", "required")]}),
            error_example(401, "Bad credentials", BAD_CREDENTIALS, "invalid_credentials"),
            error_example(429, "Throttled", "Request was throttled. Expected available in 42 "
                          "seconds.", "throttled"),
            error_example(429, "Account locked for a while", ACCOUNT_LOCKED,
                          "too_many_failed_logins"),
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        # By username (ModelBackend) or by address (shared.accounts.login_attempts.EmailBackend); an
        # unknown one costs a password hash as a known one does.
        who = {"email": data["email"]} if data.get("email") else {"username": data["username"]}
        user = authenticate(request, password=data["password"], **who)
        if user is None:
            locked_for = getattr(request, LOCKED_ATTRIBUTE, None)
            if locked_for is not None:
                raise Throttled(
                    math.ceil(locked_for), str(ACCOUNT_LOCKED), code="too_many_failed_logins"
                )
            raise AuthenticationFailed(BAD_CREDENTIALS, code="invalid_credentials")
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        pair = sessions.start_session(user, **request_origin.device(request))
        return Response({"access": pair.access, "refresh": pair.refresh})


class RefreshView(TokenEndpointMixin, GenericAPIView):
    serializer_class = RefreshSerializer

    @extend_schema(
        summary="Swap a refresh token for a new pair (rotation)",
        description="Presenting a refresh token that was already swapped ends its session.",
        responses={200: TokenPairSerializer, 401: UNAUTHORIZED},
        examples=[
            request_example("A refresh token", {"refresh": A_REFRESH_TOKEN}),
            response_example(200, "The new pair", PAIR),
            SESSION_ENDED_EXAMPLE,
        ],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = sessions.rotate(
                serializer.validated_data["refresh"], get_user_model(),
                **request_origin.device(request),
            )  # fmt: skip
        except sessions.SessionError:
            raise AuthenticationFailed(SESSION_ENDED, code="token_not_valid") from None
        return Response({"access": pair.access, "refresh": pair.refresh})


class LogoutView(TokenEndpointMixin, GenericAPIView):
    serializer_class = RefreshSerializer

    @extend_schema(
        summary="Log out: end the session of a refresh token",
        responses={200: DetailSerializer, 401: UNAUTHORIZED},
        examples=[
            request_example("A refresh token", {"refresh": A_REFRESH_TOKEN}),
            response_example(200, "Logged out", {"detail": LOGGED_OUT}),
            SESSION_ENDED_EXAMPLE,
        ],
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            sessions.end_session(serializer.validated_data["refresh"])
        except sessions.SessionError:
            raise AuthenticationFailed(SESSION_ENDED, code="token_not_valid") from None
        return Response({"detail": LOGGED_OUT})


class SessionListView(GenericAPIView):
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    serializer_class = SessionSerializer
    pagination_class = None

    @extend_schema(
        summary="The caller's sessions",
        responses={200: SessionSerializer(many=True)},
        examples=[
            response_example(200, "The caller's sessions", {
                "id": "0b6c1a8e-3f7d-4a51-9a2e-5d0f8c7b6a41", "created": "2026-11-30T08:12:09Z",
                "last_used": "2026-12-02T07:58:01Z", "ip": "198.51.100.7",
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Firefox/121.0",
                "current": True}),
        ],
    )  # fmt: skip
    def get(self, request):
        rows = sessions.sessions_of(request.user)
        context = {"current_family": str(request.auth.get(sessions.FAMILY_CLAIM))}
        return Response(SessionSerializer(rows, many=True, context=context).data)


class SessionDetailView(GenericAPIView):
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    serializer_class = None

    @extend_schema(
        summary="End one of the caller's sessions",
        responses={204: None, 404: None},
        examples=[error_example(404, "No such session", NO_SUCH_SESSION, "not_found")],
    )
    def delete(self, request, family: uuid.UUID):
        if not sessions.end_family(request.user, family):
            raise NotFound(NO_SUCH_SESSION)
        return Response(status=status.HTTP_204_NO_CONTENT)
