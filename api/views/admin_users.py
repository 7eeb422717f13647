"""The admin API's users: ``/api/admin/users/`` and ``/api/admin/users/<id>/``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from api.serializers_admin import (
    AdminUserCreateSerializer,
    AdminUserSerializer,
    AdminUserUpdateSerializer,
)
from api.views.admin import AdminAPIView
from shared.operators import user_admin

USERNAME_TAKEN = _("A user with that username already exists.")
NO_SUCH_USER = _("No such user.")


class EmailTakenConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("A user with that address already exists.")
    default_code = "email_taken"


class UserPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


CONFLICT = OpenApiResponse(description="Another user already has this address (any case).")


class AdminUserListView(AdminAPIView):
    serializer_class = AdminUserCreateSerializer
    pagination_class = UserPagination

    @extend_schema(
        summary="List users, or find them by address",
        parameters=[
            OpenApiParameter(
                "email", str, description="Only users with this address, in any case."
            )  # fmt: skip
        ],
        responses={200: AdminUserSerializer(many=True)},
    )
    def get(self, request):
        email = request.query_params.get("email", "")
        page = self.paginate_queryset(user_admin.users_by_email(email[:254]))
        return self.get_paginated_response(AdminUserSerializer(page, many=True).data)

    @extend_schema(
        summary="Create a user",
        description="With `password` (checked against the password rules), with "
        "`password_hash` (a hash made elsewhere, kept as it is), or with neither (no password "
        "login until a reset).",
        responses={201: AdminUserSerializer, 409: CONFLICT},
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = user_admin.create_user(**serializer.validated_data)
        except user_admin.EmailTaken:
            raise EmailTakenConflict from None
        except user_admin.UsernameTaken:
            raise ValidationError({"username": [USERNAME_TAKEN]}) from None
        return Response(AdminUserSerializer(user).data, status=status.HTTP_201_CREATED)


class AdminUserDetailView(AdminAPIView):
    serializer_class = AdminUserUpdateSerializer

    def get_user(self, user_id: int):
        user = user_admin.get_user(user_id)
        if user is None:
            raise NotFound(NO_SUCH_USER)
        return user

    @extend_schema(summary="One user", responses={200: AdminUserSerializer})
    def get(self, request, user_id: int):
        return Response(AdminUserSerializer(self.get_user(user_id)).data)

    @extend_schema(
        summary="Change a user's address or deactivate them",
        description="`is_active: false` ends every session and token of the user at once. A "
        "new address kills the reset links sent to the old one.",
        responses={200: AdminUserSerializer, 409: CONFLICT},
    )
    def patch(self, request, user_id: int):
        user = self.get_user(user_id)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = user_admin.update_user(user, **serializer.validated_data)
        except user_admin.EmailTaken:
            raise EmailTakenConflict from None
        return Response(AdminUserSerializer(user).data)

    @extend_schema(
        summary="Delete a user",
        description="Every session and token of the user ends at once.",
        responses={204: None},
    )
    def delete(self, request, user_id: int):
        user_admin.delete_user(self.get_user(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
