from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from shared.accounts.password_reset import InvalidResetLink, user_for_link
from shared.accounts.passwords import validate_new_password
from shared.accounts.reset_codes import normalise_code

INVALID_LINK = _("This password reset link is invalid, expired or already used. Ask for a new one.")


class StringOnlyMixin:
    """The value must arrive as a JSON string: DRF would otherwise turn a number into text, and
    a list or an object is never one value."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class StrictCharField(StringOnlyMixin, serializers.CharField):
    default_error_messages = {"not_a_string": _("Must be a string.")}


class StrictEmailField(StringOnlyMixin, serializers.EmailField):
    default_error_messages = {"not_a_string": _("Enter an email address as a string.")}


def password_field(**kwargs) -> StrictCharField:
    # Longer input than the validator allows is refused before any hashing.
    return StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True,
        style={"input_type": "password"}, **kwargs,
    )  # fmt: skip


UNKNOWN_CLIENT = _("Unknown client.")
INVALID_CODE = _("This code is wrong, expired or already used. Check it, or ask for a new email.")


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
            raise serializers.ValidationError(UNKNOWN_CLIENT)
        return value


class PasswordResetCodeSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    code = StrictCharField(
        max_length=32, help_text="The digits of the reset email; spaces and dashes are ignored."
    )

    def validate_code(self, value: str) -> str:
        code = normalise_code(value)
        if code is None:
            raise serializers.ValidationError(INVALID_CODE)
        return code


class ResetLinkPairSerializer(serializers.Serializer):
    uid = serializers.CharField(help_text="For `password/reset/confirm/`.")
    token = serializers.CharField(help_text="For `password/reset/confirm/`; works once.")


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


class PasswordChangeSerializer(serializers.Serializer):
    old_password = StrictCharField(
        max_length=settings.PASSWORD_MAX_LENGTH, trim_whitespace=False, write_only=True
    )
    new_password1 = password_field()
    new_password2 = password_field()

    def validate(self, attrs):
        user = self.context["request"].user
        if not user.check_password(attrs["old_password"]):
            raise serializers.ValidationError(
                {"old_password": [_("Your old password was entered incorrectly.")]}
            )
        try:
            validate_new_password(attrs["new_password1"], attrs["new_password2"], user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password2": list(exc.messages)}) from None
        return attrs


class PasswordChangedSerializer(TokenPairSerializer):
    detail = serializers.CharField()
