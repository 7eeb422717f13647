"""Bodies of the admin API (``/api/admin/``)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from api.serializers import StrictCharField, StrictEmailField, password_field
from shared.password_hashes import is_recognised_hash
from shared.user_admin import validate_password_for

UNKNOWN_HASH = _("No configured password hasher recognises this hash.")
BOTH_PASSWORDS = _("Give a password or a password hash, not both.")


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF would also take "yes", "0", 1..."""

    default_error_messages = {"invalid": _("Must be true or false.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class AdminUserSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(read_only=True)
    username = serializers.CharField(read_only=True)
    is_active = serializers.BooleanField(read_only=True)
    has_usable_password = serializers.SerializerMethodField()
    date_joined = serializers.DateTimeField(read_only=True)

    def get_has_usable_password(self, user) -> bool:
        return user.has_usable_password()


class AdminUserCreateSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    username = StrictCharField(
        required=False,
        max_length=get_user_model()._meta.get_field("username").max_length,
        validators=[UnicodeUsernameValidator()],
        help_text="Default: from the address, made unique.",
    )
    password = password_field(required=False)
    password_hash = StrictCharField(
        required=False, max_length=128, write_only=True,
        help_text="A hash Django's configured hashers recognise (pbkdf2_sha256, argon2, "
        "bcrypt_sha256, scrypt), kept as it is.",
    )  # fmt: skip
    is_active = StrictBooleanField(required=False, default=True)

    def validate_password_hash(self, value: str) -> str:
        if not is_recognised_hash(value):
            raise serializers.ValidationError(UNKNOWN_HASH)
        return value

    def validate(self, attrs):
        if "password" in attrs and "password_hash" in attrs:
            raise serializers.ValidationError(BOTH_PASSWORDS)
        if "password" in attrs:
            try:
                validate_password_for(
                    attrs["password"], email=attrs["email"], username=attrs.get("username")
                )
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class AdminUserUpdateSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254, required=False)
    is_active = StrictBooleanField(
        required=False, help_text="false ends every session and token of the user at once."
    )
