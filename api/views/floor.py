"""Benchmarks only (BENCH_ENDPOINTS=1): the floor a reset request is measured against."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.views.password_reset import (
    RESET_REQUESTED,
    PasswordResetRequestSerializer,
    ResetResponseMixin,
)


@extend_schema(exclude=True)
class ResetFloorView(ResetResponseMixin, GenericAPIView):
    """Parses and validates the same body as the reset endpoint, in the same process, then
    answers the same 202 doing nothing else: no throttle, no event, no Redis."""

    serializer_class = PasswordResetRequestSerializer

    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"detail": RESET_REQUESTED}, status=status.HTTP_202_ACCEPTED)
