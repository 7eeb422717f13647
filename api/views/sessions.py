"""JSON endpoints of JWT sessions: login, refresh, logout, and the list of one's sessions."""

from __future__ import annotations

import math
import uuid

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed, NotFound, Throttled
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from api import request_origin
from api.authentication import SessionJWTAuthentication
from api.fields import DetailSerializer, StrictCharField, StrictEmailField
from api.throttles import LoginIPThrottle
from shared.accounts import sessions
from shared.accounts.login_attempts import LOCKED_ATTRIBUTE

BAD_CREDENTIALS = _("Unable to log in with the provided credentials.")
ACCOUNT_LOCKED = _("Too many failed attempts to log in to this account. Try again later.")
SESSION_ENDED = _("This session has ended. Log in again.")
UNAUTHORIZED = OpenApiResponse(description="Invalid, expired, revoked or reused token.")


class LoginSerializer(serializers.Serializer):
    """dj-rest-auth's fields: ``email`` or ``username``, and ``password``."""

    email = StrictEmailField(max_length=254, required=False)
    username = StrictCharField(max_length=150, required=False)
    password = StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True
    )

    def validate(self, attrs):
        if bool(attrs.get("email")) == bool(attrs.get("username")):
            raise serializers.ValidationError(_("Give either an email or a username."))
        return attrs


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
        responses={200: TokenPairSerializer, 400: OpenApiResponse(description="Malformed body."),
                   401: OpenApiResponse(description="Bad credentials."),
                   429: OpenApiResponse(description="Too many attempts from this address, or "
                                        "too many failed ones on this account (Retry-After).")},
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
                raise Throttled(math.ceil(locked_for), str(ACCOUNT_LOCKED))
            raise AuthenticationFailed(BAD_CREDENTIALS)
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        pair = sessions.start_session(user, **request_origin.device(request))
        return Response({"access": pair.access, "refresh": pair.refresh})


class RefreshView(TokenEndpointMixin, GenericAPIView):
    serializer_class = RefreshSerializer

    @extend_schema(
        summary="Swap a refresh token for a new pair (rotation)",
        description="Presenting a refresh token that was already swapped ends its session.",
        responses={200: TokenPairSerializer, 401: UNAUTHORIZED},
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
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            sessions.end_session(serializer.validated_data["refresh"])
        except sessions.SessionError:
            raise AuthenticationFailed(SESSION_ENDED, code="token_not_valid") from None
        return Response({"detail": _("Logged out.")})


class SessionListView(GenericAPIView):
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    serializer_class = SessionSerializer
    pagination_class = None

    @extend_schema(summary="The caller's sessions", responses={200: SessionSerializer(many=True)})
    def get(self, request):
        rows = sessions.sessions_of(request.user)
        context = {"current_family": str(request.auth.get(sessions.FAMILY_CLAIM))}
        return Response(SessionSerializer(rows, many=True, context=context).data)


class SessionDetailView(GenericAPIView):
    authentication_classes = [SessionJWTAuthentication]
    permission_classes = [IsAuthenticated]
    serializer_class = None

    @extend_schema(summary="End one of the caller's sessions", responses={204: None, 404: None})
    def delete(self, request, family: uuid.UUID):
        if not sessions.end_family(request.user, family):
            raise NotFound(_("No such session."))
        return Response(status=status.HTTP_204_NO_CONTENT)
