"""Field types the API's serializers share: values that must arrive as JSON strings, and
passwords (never echoed, never trimmed, length-capped before any hashing)."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


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


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
