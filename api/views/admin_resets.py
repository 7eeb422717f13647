"""Resets asked for by another service: ``/api/admin/users/<id>/password-reset/`` (one user)
and ``/api/admin/forced-resets/`` (many, after a breach)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response
from rest_framework_api_key.models import APIKey

from api.api_keys import ADMIN_KEY_PARSER
from api.fields import DetailSerializer
from api.schema import error_example, invalid_example, request_example, response_example
from api.serializers_admin import (
    AdminPasswordResetSerializer,
    AdminResetLinkSerializer,
    ForcedResetCreatedSerializer,
    ForcedResetCreateSerializer,
    ForcedResetSerializer,
)
from api.views.admin import AdminAPIView
from api.views.admin_users import NO_SUCH_USER, NO_SUCH_USER_EXAMPLE
from shared.accounts.password_reset import issue_reset
from shared.models import ForcedReset
from shared.operators import forced_resets, user_admin

NO_SUCH_RESET = _("No such forced reset.")
UNKNOWN_IDS = _("No user has these ids: %(ids)s.")


class InactiveUserConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The user is inactive: a reset link would not work. Reactivate them first.")
    default_code = "user_inactive"


class QueueUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The work queue cannot be reached. Nothing was started; try again.")
    default_code = "queue_unavailable"


RESET_EMAIL_QUEUED = _("The reset email is on its way.")

# What a client sees, for the schema's examples.
A_RESET_ID = "5f0c2b8e-8d1a-4c6e-9b7f-2a3d4e5f6a7b"
QUEUE_UNAVAILABLE_EXAMPLE = error_example(
    503, "Queue unavailable", QueueUnavailable.default_detail, QueueUnavailable.default_code
)


def key_name(request) -> str:
    key = ADMIN_KEY_PARSER.get(request)
    try:
        return APIKey.objects.get_from_key(key).name if key else ""
    except APIKey.DoesNotExist:
        return ""


class AdminUserPasswordResetView(AdminAPIView):
    serializer_class = AdminPasswordResetSerializer

    @extend_schema(
        summary="Send a user a reset link, or get one to deliver yourself",
        description="Either way the link is fresh and every link sent before it dies. "
        "`deliver: email` queues the same email as a self-service reset (no daily cap: you "
        "asked). `deliver: return` answers the link and code for you to deliver "
        "(the code is exchanged at `/api/auth/password/reset/code/` with the user's address).",
        responses={
            200: AdminResetLinkSerializer,
            202: OpenApiResponse(DetailSerializer, description="The email is queued."),
            404: OpenApiResponse(description="No such user."),
            409: OpenApiResponse(description="The user is inactive."),
        },
        examples=[
            request_example("Mail the user", {"deliver": "email"}),
            request_example("Return the link", {"deliver": "return"}),
            response_example(200, "The link and code, to deliver yourself", {
                "link": "https://app.example.com/reset/MTI/cj3k2x-9f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
                "code": "48213907", "expires_at": "2026-12-02T08:58:01Z",
                "code_expires_at": "2026-12-02T08:13:01Z"}),
            response_example(202, "Queued", {"detail": RESET_EMAIL_QUEUED}),
            invalid_example("Unknown delivery", {"deliver": [
                ('"post" is not a valid choice.', "invalid_choice")]}),
            NO_SUCH_USER_EXAMPLE,
            error_example(409, "Inactive user", InactiveUserConflict.default_detail,
                          InactiveUserConflict.default_code),
            QUEUE_UNAVAILABLE_EXAMPLE,
        ],
    )  # fmt: skip
    def post(self, request, user_id: int):
        user = user_admin.get_user(user_id)
        if user is None:
            raise NotFound(NO_SUCH_USER)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not user.is_active:
            raise InactiveUserConflict
        if serializer.validated_data["deliver"] == "email":
            try:
                forced_resets.mail_reset_link_later(user)
            except forced_resets.QueueUnavailable:
                raise QueueUnavailable from None
            return Response({"detail": RESET_EMAIL_QUEUED}, status=status.HTTP_202_ACCEPTED)
        reset = issue_reset(user)
        return Response(AdminResetLinkSerializer(reset).data)


class ForcedResetListView(AdminAPIView):
    serializer_class = ForcedResetCreateSerializer

    @extend_schema(
        summary="Force a reset of some or all users",
        description="Each user's password becomes unusable, which ends every token and session "
        "at once, and each is mailed a reset link, by the workers in batches. Every id in "
        "`user_ids` must name a user (else 400, naming the unknown ones); users inactive or "
        "gone by the time their batch runs are counted as `failed`. Follow the progress at "
        "`forced-resets/<id>/`.",
        responses={
            202: ForcedResetCreatedSerializer,
            400: OpenApiResponse(description="Bad body."),
        },
        examples=[
            request_example("Some users", {"user_ids": [12, 13, 57]}),
            request_example("Every active user", {"all": True}),
            response_example(202, "Started", {"id": A_RESET_ID}),
            invalid_example("Unknown ids", {"user_ids": [
                (UNKNOWN_IDS % {"ids": "57, 58"}, "unknown_ids")]}),
            invalid_example("Neither or both", {"non_field_errors": [
                ("Give either user_ids or all: true.", "invalid")]}),
            QUEUE_UNAVAILABLE_EXAMPLE,
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            reset = forced_resets.request_forced_reset(
                user_ids=serializer.validated_data.get("user_ids"), requested_by=key_name(request)
            )
        except forced_resets.UnknownUsers as exc:
            shown = ", ".join(str(pk) for pk in exc.ids[:20])
            if len(exc.ids) > 20:
                shown += ", ..."
            raise ValidationError(
                {"user_ids": [UNKNOWN_IDS % {"ids": shown}]}, code="unknown_ids"
            ) from None
        except forced_resets.QueueUnavailable:
            raise QueueUnavailable from None
        return Response({"id": str(reset.id)}, status=status.HTTP_202_ACCEPTED)


class ForcedResetDetailView(AdminAPIView):
    serializer_class = ForcedResetSerializer

    @extend_schema(
        summary="How far a forced reset has got",
        responses={200: ForcedResetSerializer},
        examples=[
            response_example(200, "Running", {
                "id": A_RESET_ID, "state": "running", "total": 20000, "done": 4500, "failed": 3}),
            error_example(404, "No such forced reset", NO_SUCH_RESET, "not_found"),
        ],
    )  # fmt: skip
    def get(self, request, reset_id):
        reset = ForcedReset.objects.filter(pk=reset_id).first()
        if reset is None:
            raise NotFound(NO_SUCH_RESET)
        return Response(ForcedResetSerializer(forced_resets.progress(reset)).data)
