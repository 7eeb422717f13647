"""JSON endpoints of "forgot my password". Each view parses, then calls one flow function."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api import client
from api.serializers import DetailSerializer, PasswordResetRequestSerializer
from shared.password_reset import request_password_reset

RESET_REQUESTED = _("If an account uses this address, a link to reset its password is on its way.")


class PasswordResetView(GenericAPIView):
    """Ask for a reset link. The answer is the same whether or not an account uses the address."""

    serializer_class = PasswordResetRequestSerializer
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        summary="Request a password reset email",
        responses={
            202: DetailSerializer,
            400: OpenApiResponse(description="Malformed or non-string email."),
            429: OpenApiResponse(description="Too many requests; see Retry-After."),
        },
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        request_password_reset(
            email=serializer.validated_data["email"],
            ip=client.client_ip(request),
            user_agent=client.user_agent(request),
            language=client.language(request),
        )
        return Response({"detail": RESET_REQUESTED}, status=status.HTTP_202_ACCEPTED)
