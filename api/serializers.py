from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from shared.password_reset import InvalidResetLink, user_for_link, validate_new_password

INVALID_LINK = _("This password reset link is invalid, expired or already used. Ask for a new one.")


class StrictCharField(serializers.CharField):
    """Text that must arrive as a string: DRF would otherwise turn a number into text, and a
    list or an object is never one value."""

    default_error_messages = {"not_a_string": _("Must be a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictEmailField(serializers.EmailField):
    default_error_messages = {"not_a_string": _("Enter an email address as a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


def password_field() -> StrictCharField:
    # Longer input than the validator allows is refused before any hashing.
    return StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True,
        style={"input_type": "password"},
    )  # fmt: skip


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64)
    token = StrictCharField(max_length=128)
    new_password1 = password_field()
    new_password2 = password_field()

    def validate(self, attrs):
        try:
            user = user_for_link(attrs["uid"], attrs["token"])
        except InvalidResetLink:
            raise serializers.ValidationError({"token": [INVALID_LINK]}) from None
        try:
            validate_new_password(attrs["new_password1"], attrs["new_password2"], user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password2": list(exc.messages)}) from None
        attrs["user"] = user
        return attrs


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
