from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from api import client
from shared.password_reset import request_password_reset


class PasswordResetRequestForm(forms.Form):
    """The browser's reset request: publishes the same event as the JSON API, and, like it,
    never looks the address up."""

    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def save(self, *, request, **_ignored) -> None:
        request_password_reset(
            email=self.cleaned_data["email"],
            ip=client.client_ip(request),
            user_agent=client.user_agent(request),
            language=client.language(request),
        )
