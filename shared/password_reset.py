"""The "forgot my password" flow, apart from any transport (JSON view, HTML form, worker).

The API side only validates the address and publishes ``password.reset_requested``: it never
looks the address up, so a known and an unknown address cost the same and answer the same.
The worker side finds the accounts and mails each one at the address stored on it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from shared.events import Event, PasswordResetRequestedV1, make_event
from shared.publisher import publish


def request_password_reset(*, email: str, ip: str | None, user_agent: str, language: str) -> Event:
    """Publish a reset request for ``email`` as typed. Does not touch the user table."""
    event = make_event(
        PasswordResetRequestedV1(email=email, ip=ip, user_agent=user_agent, language=language)
    )
    publish(event)
    return event


def users_for_reset(email: str) -> list:
    """Active accounts with a usable password whose stored address matches ``email``.

    Django's own lookup: case-insensitive in the database, then an exact comparison of the
    Unicode-normalised, case-folded forms, so that ``mıke@`` (dotless i) or a Kelvin sign
    never matches ``mike@`` (CVE-2019-19844).
    """
    return list(PasswordResetForm().get_users(email))


def email_of(user) -> str:
    """The address stored on the account: the only one a reset link is ever sent to."""
    return getattr(user, get_user_model().get_email_field_name())


def reset_link(user) -> str:
    """The link for ``user``, built from configuration, never from a request's Host header."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    if settings.FRONTEND_RESET_URL:
        return settings.FRONTEND_RESET_URL.format(uid=uid, token=token)
    path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    return settings.PUBLIC_BASE_URL + path
