"""The admin API's users: ``/api/admin/users/`` and ``/api/admin/users/<id>/``."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response

from api.schema import error_example, invalid_example, request_example, response_example
from api.serializers_admin import (
    UNKNOWN_HASH,
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

# What a client sees, for the schema's examples.
A_USER = {
    "id": 12, "email": "ann@example.com", "username": "ann", "is_active": True,
    "has_usable_password": True, "date_joined": "2026-11-30T08:12:09Z",
}  # fmt: skip
EMAIL_TAKEN_EXAMPLE = error_example(
    409, "Address in use", EmailTakenConflict.default_detail, EmailTakenConflict.default_code
)
NO_SUCH_USER_EXAMPLE = error_example(404, "No such user", NO_SUCH_USER, "not_found")


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
        examples=[response_example(200, "One page of users", A_USER)],
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
        examples=[
            request_example("With a password", {
                "email": "ann@example.com", "password": "correct horse battery staple"}),
            request_example("With a hash made elsewhere", {
                "email": "ann@example.com", "username": "ann", "is_active": True,
                "password_hash": "pbkdf2_sha256$1000000$Dx0R8cF1...$Jc3kz..."}),
            response_example(201, "Created", A_USER),
            invalid_example("Password refused", {"password": [
                ("This password is too common.", "invalid")]}),
            invalid_example("Unknown hash", {"password_hash": [(UNKNOWN_HASH, "invalid")]}),
            invalid_example("Username taken", {"username": [(USERNAME_TAKEN, "username_taken")]}),
            EMAIL_TAKEN_EXAMPLE,
        ],
    )  # fmt: skip
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = user_admin.create_user(**serializer.validated_data)
        except user_admin.EmailTaken:
            raise EmailTakenConflict from None
        except user_admin.UsernameTaken:
            raise ValidationError({"username": [USERNAME_TAKEN]}, code="username_taken") from None
        return Response(AdminUserSerializer(user).data, status=status.HTTP_201_CREATED)


class AdminUserDetailView(AdminAPIView):
    serializer_class = AdminUserUpdateSerializer

    def get_user(self, user_id: int):
        user = user_admin.get_user(user_id)
        if user is None:
            raise NotFound(NO_SUCH_USER)
        return user

    @extend_schema(
        summary="One user",
        responses={200: AdminUserSerializer},
        examples=[response_example(200, "A user", A_USER), NO_SUCH_USER_EXAMPLE],
    )
    def get(self, request, user_id: int):
        return Response(AdminUserSerializer(self.get_user(user_id)).data)

    @extend_schema(
        summary="Change a user's address or deactivate them",
        description="`is_active: false` ends every session and token of the user at once. A "
        "new address kills the reset links sent to the old one.",
        responses={200: AdminUserSerializer, 409: CONFLICT},
        examples=[
            request_example("Deactivate", {"is_active": False}),
            request_example("New address", {"email": "ann@example.org"}),
            response_example(200, "The user after the change", {**A_USER, "is_active": False}),
            invalid_example("Not a boolean", {
                "is_active": [("Must be true or false.", "invalid")]}),
            NO_SUCH_USER_EXAMPLE,
            EMAIL_TAKEN_EXAMPLE,
        ],
    )  # fmt: skip
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
        examples=[NO_SUCH_USER_EXAMPLE],
    )
    def delete(self, request, user_id: int):
        user_admin.delete_user(self.get_user(user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
