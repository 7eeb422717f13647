"""Small builders for test data."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from shared.accounts.reset_tokens import reset_token_generator

PASSWORD = "an-old-long-passphrase"
NEW_PASSWORD = "a-brand-new-long-passphrase"


def make_user(username="alice", email="alice@example.com", password=PASSWORD, **extra):
    return get_user_model().objects.create_user(username, email, password, **extra)


def issue_link(user) -> dict[str, str]:
    """The uid and token of a freshly sent link, as the email worker makes them."""
    return {
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": reset_token_generator.issue(user),
    }
