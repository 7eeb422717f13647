"""Password validators Django lacks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


class MaximumLengthValidator:
    """Refuse passwords longer than ``max_length``: hashing cost and request size stay bounded
    however long a password an attacker posts. 4096 leaves room for any passphrase or
    password-manager output."""

    def __init__(self, max_length: int = 4096):
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max_length)d character.",
                    "This password is too long. It must contain at most %(max_length)d characters.",
                    self.max_length,
                ),
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password can’t be longer than %(max_length)d character.",
            "Your password can’t be longer than %(max_length)d characters.",
            self.max_length,
        ) % {"max_length": self.max_length}


class RepetitiveOrSequentialValidator:
    """Placeholder: being written (issue 12, item 5)."""

    def validate(self, password: str, user=None) -> None:
        return None

    def get_help_text(self) -> str:
        return ""


class BreachedPasswordValidator:
    """Placeholder: being written (issue 12, item 5)."""

    def validate(self, password: str, user=None) -> None:
        return None

    def get_help_text(self) -> str:
        return ""
