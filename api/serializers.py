from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class StrictEmailField(serializers.EmailField):
    """An email address that must arrive as a JSON string: DRF would otherwise turn a number
    into text, and a list is never one address."""

    default_error_messages = {"not_a_string": _("Enter an email address as a string.")}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()
