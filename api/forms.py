from __future__ import annotations

import math

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm, SetPasswordForm
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext
from django.utils.translation import gettext_lazy as _

from api import request_origin
from api.views.password_reset import INVALID_CODE
from shared.accounts.email_change import (
    SAME_ADDRESS,
    WRONG_PASSWORD,
    is_current_address,
    request_email_change,
)
from shared.accounts.login_attempts import LOCKED_ATTRIBUTE
from shared.accounts.password_reset import complete_password_reset, request_password_reset
from shared.accounts.passwords import change_password
from shared.accounts.reset_codes import InvalidResetCode, exchange_code, normalise_code

RESET_EMAIL_SESSION_KEY = "resetpass_reset_email"


class LockoutMessageMixin:
    """A login form that says so when the account's lockout (``login_account``) refused the
    attempt, rather than "wrong password": the same for every identifier, known or not."""

    def get_invalid_login_error(self):
        locked_for = getattr(self.request, LOCKED_ATTRIBUTE, None)
        if locked_for is None:
            return super().get_invalid_login_error()
        minutes = max(1, math.ceil(locked_for / 60))
        return forms.ValidationError(
            ngettext(
                "Too many failed attempts to log in to this account. Try again in %(minutes)d "
                "minute.",
                "Too many failed attempts to log in to this account. Try again in %(minutes)d "
                "minutes.",
                minutes,
            ),
            code="account_locked",
            params={"minutes": minutes},
        )


class LoginForm(LockoutMessageMixin, AuthenticationForm):
    """The login page's form: a username or an address, as the JSON API takes either."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "Please enter a correct username or email and password. The password is case-sensitive."
        ),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.label = _("Username or email")
        field.max_length = 254  # an address may be longer than a username
        field.widget.attrs["maxlength"] = 254

    def clean(self):
        identifier = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if identifier is not None and password:
            # One authenticate() call, so a failure is counted once (login_account): the
            # username backend tries it as a username, the address backend as an address.
            credentials = {"username": identifier, "password": password}
            if "@" in identifier:
                credentials["email"] = identifier
            self.user_cache = authenticate(self.request, **credentials)
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class AdminLoginForm(LockoutMessageMixin, AdminAuthenticationForm):
    """The Django admin's login form (``admin.site.login_form``, set in ``api.apps``)."""


class PasswordResetRequestForm(forms.Form):
    """The browser's reset request: publishes the same event as the JSON API, and, like it,
    never looks the address up."""

    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )

    def save(self, *, request, **_ignored) -> None:
        request_password_reset(email=self.cleaned_data["email"], **request_origin.origin(request))
        # Only what this browser typed, to fill in the code page that follows.
        request.session[RESET_EMAIL_SESSION_KEY] = self.cleaned_data["email"]


class ResetCodeForm(forms.Form):
    """The code of a reset email, with the address it went to ("enter the code instead")."""

    error_messages = {"invalid_code": INVALID_CODE}

    email = forms.EmailField(
        label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        code = normalise_code(cleaned["code"])
        if code is None:
            raise forms.ValidationError(INVALID_CODE, code="invalid_code")
        try:
            cleaned["uid"], cleaned["token"] = exchange_code(cleaned["email"], code)
        except InvalidResetCode:
            raise forms.ValidationError(INVALID_CODE, code="invalid_code") from None
        return cleaned


def password_rules_help() -> str:
    """The rules a new password must meet, in one line read from ``AUTH_PASSWORD_VALIDATORS``
    ("At least 12 characters; not a common password"), so the page never promises other rules
    than the ones enforced. Falls back to Django's list of each validator's help."""
    rules = []
    for validator in password_validation.get_default_password_validators():
        if isinstance(validator, password_validation.MinimumLengthValidator):
            rules.append(
                ngettext(
                    "At least %(min_length)d character",
                    "At least %(min_length)d characters",
                    validator.min_length,
                )
                % {"min_length": validator.min_length}
            )
        elif isinstance(validator, password_validation.CommonPasswordValidator):
            rules.append(gettext("not a common password"))
    if not rules:
        return password_validation.password_validators_help_text_html()
    # The separator is translated too: French sets a space before its semicolon.
    return pgettext("between password rules", "; ").join([capfirst(rules[0]), *rules[1:]])


class NewPasswordFormMixin:
    """Keeps the request (the flows record who asked), caps the new password's length, in
    the form and in the browser, before any hashing, and reports a password that breaks a
    rule on the field it was typed in (Django puts it on the confirmation)."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request
        for name in ("new_password1", "new_password2"):
            self.fields[name].max_length = settings.PASSWORD_MAX_LENGTH
            self.fields[name].widget.attrs["maxlength"] = settings.PASSWORD_MAX_LENGTH
        self.fields["new_password1"].help_text = password_rules_help()
        # The confirmation's help ("Enter the same password as before") says what its label
        # does.
        self.fields["new_password2"].help_text = ""

    def clean(self):
        self.validate_passwords("new_password1", "new_password2")  # a mismatch: new_password2
        self.validate_password_for_user(self.user, "new_password1")
        return forms.Form.clean(self)


class ResetSetPasswordForm(NewPasswordFormMixin, SetPasswordForm):
    """Django's set-password form, saved through the reset flow (compare-and-set, event)."""

    def save(self, commit=True):
        complete_password_reset(
            self.user,
            self.cleaned_data["new_password1"],
            **request_origin.origin(self.request),
        )
        return self.user


class ChangePasswordForm(NewPasswordFormMixin, PasswordChangeForm):
    """Django's change-password form, saved through the change flow: the event is committed
    with the password, and this browser session is the one kept."""

    def save(self, commit=True):
        change_password(
            self.user,
            self.cleaned_data["new_password1"],
            **request_origin.origin(self.request),
            keep_session_key=self.request.session.session_key,
        )
        return self.user


class EmailChangeForm(forms.Form):
    """A new address for the signed-in account, with its current password. Saving publishes
    the request: the confirmation goes to the new address, as through the API."""

    password = forms.CharField(
        label=_("Current password"),
        strip=False,
        max_length=settings.PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )
    new_email = forms.EmailField(
        label=_("New email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.request = request

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(WRONG_PASSWORD, code="password_incorrect")
        return password

    def clean_new_email(self):
        new_email = self.cleaned_data["new_email"]
        if is_current_address(self.user, new_email):
            raise forms.ValidationError(SAME_ADDRESS, code="same_address")
        return new_email

    def save(self) -> None:
        request_email_change(
            self.user, self.cleaned_data["new_email"], **request_origin.origin(self.request)
        )
