"""Server-rendered pages for people in a browser: Django's auth views, configured."""

from __future__ import annotations

import math

from django import forms
from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView
from django.views.generic.edit import FormView

from api import request_origin
from api.forms import (
    RESET_EMAIL_SESSION_KEY,
    ChangePasswordForm,
    EmailChangeForm,
    LoginForm,
    PasswordResetRequestForm,
    ResetCodeForm,
    ResetSetPasswordForm,
)
from api.request_origin import no_store
from api.throttles import (
    ChangeUserThrottle,
    CodeIPThrottle,
    ConfirmIPThrottle,
    LoginIPThrottle,
    ResetIPThrottle,
)
from shared.accounts import change_links
from shared.accounts.browser_sessions import session_key_cycled
from shared.accounts.email_change import confirm_email_change
from shared.accounts.not_me import lock_account
from shared.accounts.password_reset import InvalidResetLink
from shared.accounts.passwords import PasswordChangedMeanwhile
from shared.accounts.reset_tokens import reset_token_generator
from shared.models import ChangeLink, UserSession


def _no_store(view):
    """Reset pages (an address typed, a token in the session) are kept by no cache."""

    def wrapped(request, *args, **kwargs):
        return no_store(view(request, *args, **kwargs))

    return wrapped


class ThrottledPostMixin:
    """The API's throttles (``api.throttles``) on form posts. Over the limit, the same page
    again, status 429 with Retry-After, with a banner that says when to try again and the
    form holding what was typed, passwords excepted. The form is not validated: a throttled
    post checks no password and spends no code."""

    throttle_classes: tuple = ()

    def post(self, request, *args, **kwargs):
        for throttle in (cls() for cls in self.throttle_classes):
            if not throttle.allow_request(request, self):
                return self.throttled(math.ceil(throttle.wait()))
        return super().post(request, *args, **kwargs)

    def throttled(self, seconds: int):
        context = {"throttled_seconds": seconds}
        if hasattr(self, "get_form"):
            context["form"] = self.form_as_typed()
        response = self.render_to_response(self.get_context_data(**context), status=429)
        response["Retry-After"] = str(seconds)
        return response

    def form_as_typed(self):
        """An unbound form (no errors, no validation) showing the posted values as initial
        ones, except in password fields."""
        kwargs = self.get_form_kwargs()
        data = kwargs.pop("data", None) or {}
        kwargs.pop("files", None)
        form = self.get_form_class()(**kwargs)
        form.initial = {
            name: data.get(name)
            for name, field in form.fields.items()
            if name in data and not isinstance(field.widget, forms.PasswordInput)
        }
        return form


class LoginView(ThrottledPostMixin, auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True
    throttle_classes = (LoginIPThrottle,)

    def get_context_data(self, **kwargs):
        # Django's view names the site after the request's Host header: the service's name
        # (api.context_processors) is the one to show.
        return {**super().get_context_data(**kwargs), "site_name": settings.SITE_NAME}


class LogoutView(auth_views.LogoutView):
    """POST only (Django's rule); back to the login page (LOGOUT_REDIRECT_URL)."""


@method_decorator(_no_store, name="dispatch")
class PasswordResetView(ThrottledPostMixin, auth_views.PasswordResetView):
    form_class = PasswordResetRequestForm
    template_name = "accounts/password_reset_form.html"
    success_url = reverse_lazy("password_reset_done")
    throttle_classes = (ResetIPThrottle,)


@method_decorator(_no_store, name="dispatch")
class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


@method_decorator([never_cache, _no_store], name="dispatch")
class PasswordResetCodeView(ThrottledPostMixin, FormView):
    """ "Enter the code instead": a right code leads to the link's own page, which keeps the
    token in the session and asks for the new password."""

    template_name = "accounts/password_reset_code.html"
    form_class = ResetCodeForm
    throttle_classes = (CodeIPThrottle,)

    def get_initial(self):
        return {"email": self.request.session.get(RESET_EMAIL_SESSION_KEY, "")}

    def form_valid(self, form):
        # The address has served: the next person at this browser (a kiosk) must not see it.
        self.request.session.pop(RESET_EMAIL_SESSION_KEY, None)
        uid, token = form.cleaned_data["uid"], form.cleaned_data["token"]
        return redirect("password_reset_confirm", uidb64=uid, token=token)


@method_decorator([never_cache, _no_store], name="dispatch")
class PasswordResetConfirmView(ThrottledPostMixin, auth_views.PasswordResetConfirmView):
    """Opening the link (GET) checks the token, keeps it in the session and redirects at once
    to a URL without it; it spends nothing, so mail scanners that open links do no harm."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")
    form_class = ResetSetPasswordForm
    token_generator = reset_token_generator
    throttle_classes = (ConfirmIPThrottle,)
    # login() must be told which backend vouches for the user when several are configured.
    post_reset_login_backend = "django.contrib.auth.backends.ModelBackend"

    @property
    def post_reset_login(self):
        return settings.PASSWORD_RESET_AUTO_LOGIN

    def dispatch(self, *args, **kwargs):
        response = super().dispatch(*args, **kwargs)
        if kwargs.get("token") != self.reset_url_token:
            # The one URL that holds a token: what it answers (a redirect, or the page of a
            # dead link) sends no Referer anywhere. Every other page keeps the site's
            # same-origin policy, so its forms post with their real Origin for the CSRF check.
            response["Referrer-Policy"] = "no-referrer"
        if kwargs.get("token") != self.reset_url_token and response.status_code == 302:
            # The link's token just entered the session: give it a new key, so that a session
            # cookie someone planted in this browser beforehand does not hold it (fixation).
            if self._signed_in_as_someone_else():
                # A planted session signed in to the attacker's own account would otherwise
                # stay signed in to it after the reset: start an empty one.
                token = self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
                logout(self.request)
                self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN] = token
            else:
                self._cycle_session_key()
        return response

    def _signed_in_as_someone_else(self) -> bool:
        signed_in = self.request.session.get(SESSION_KEY)
        return signed_in is not None and signed_in != str(self.user.pk)

    def _cycle_session_key(self):
        session = self.request.session
        old_key = session.session_key
        session.cycle_key()
        # A signed-in session stays in the per-user index, which is how it gets ended.
        UserSession.objects.filter(session_key=old_key).update(session_key=session.session_key)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        try:
            response = super().form_valid(form)
        except InvalidResetLink:
            # Another tab or request used the link first.
            self.validlink = False
            return self.render_to_response(self.get_context_data(form=None))
        if not self.post_reset_login:  # login() has already given the session a new key
            self._cycle_session_key()
        self.request.session.pop(RESET_EMAIL_SESSION_KEY, None)
        return response


@method_decorator(_no_store, name="dispatch")
class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


class PasswordChangeView(ThrottledPostMixin, auth_views.PasswordChangeView):
    template_name = "accounts/password_change_form.html"
    success_url = reverse_lazy("password_change_done")
    form_class = ChangePasswordForm
    throttle_classes = (ChangeUserThrottle,)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        old_key = self.request.session.session_key
        try:
            # Saves, then keeps this browser signed in (Django cycles the session key).
            response = super().form_valid(form)
        except PasswordChangedMeanwhile:
            return redirect_to_login(self.request.get_full_path())
        session_key_cycled(old_key, self.request.session.session_key, form.user)
        return response


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "accounts/password_change_done.html"


@method_decorator(never_cache, name="dispatch")
class EmailChangeView(LoginRequiredMixin, ThrottledPostMixin, FormView):
    template_name = "accounts/email_change_form.html"
    form_class = EmailChangeForm
    success_url = reverse_lazy("email_change_done")
    throttle_classes = (ChangeUserThrottle,)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "user": self.request.user, "request": self.request}

    def form_valid(self, form):
        form.save()
        return super().form_valid(form)


class EmailChangeDoneView(LoginRequiredMixin, TemplateView):
    template_name = "accounts/email_change_done.html"


LINK_URL_TOKEN = "confirm"  # noqa: S105 - stands in the URL for the token kept in the session


class OneTimeLinkPage(TemplateView):
    """A page opened from a one-time link (``shared.accounts.change_links``), the way Django's
    reset page works: opening the link (GET) checks it, keeps its token in the session and
    redirects at once to the same URL with ``confirm`` in place of the token, spending
    nothing; the page there asks for a POST (CSRF-protected), which spends the link."""

    purpose: str = ""
    done_template_name = ""

    @property
    def session_key(self) -> str:
        return f"resetpass_{self.purpose}_token"

    def dispatch(self, request, uidb64, token):
        self.uidb64 = uidb64
        if token != LINK_URL_TOKEN:
            response = self._enter(request, token)
            # The one URL that holds a token sends no Referer anywhere (see the reset page).
            response["Referrer-Policy"] = "no-referrer"
            return response
        try:
            self.link = change_links.find(
                self.purpose, uidb64, request.session.get(self.session_key, "")
            )
        except change_links.DeadLink:
            return self.render_to_response({"validlink": False})
        return super().dispatch(request, uidb64=uidb64, token=token)

    def _enter(self, request, token):
        try:
            change_links.find(self.purpose, self.uidb64, token)
        except change_links.DeadLink:
            return self.render_to_response({"validlink": False})
        old_key = request.session.session_key
        request.session[self.session_key] = token
        if old_key:
            # A new key: a session cookie planted in this browser beforehand must not hold
            # the token (fixation). A signed-in session stays in the per-user index.
            request.session.cycle_key()
            UserSession.objects.filter(session_key=old_key).update(
                session_key=request.session.session_key
            )
        url_name = change_links.URL_NAMES[self.purpose]
        return redirect(reverse(url_name, kwargs={"uidb64": self.uidb64, "token": LINK_URL_TOKEN}))

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "validlink": True, "link": self.link}

    def act(self, request) -> dict:
        """Spend the link and do what it is for; the context of the page that says so."""
        raise NotImplementedError

    def post(self, request, *args, **kwargs):
        try:
            context = self.act(request)
        except change_links.DeadLink:
            return self.render_to_response({"validlink": False})
        request.session.pop(self.session_key, None)
        return render(request, self.done_template_name, context)


@method_decorator([never_cache, _no_store], name="dispatch")
class OneTimeLinkView(ThrottledPostMixin, OneTimeLinkPage):
    """Confirmations are throttled per client IP, as reset confirmations are."""

    throttle_classes = (ConfirmIPThrottle,)


class NotMeView(OneTimeLinkView):
    """ "This wasn't me": the page shows what confirming does; its POST locks the account."""

    purpose = ChangeLink.Purpose.NOT_ME
    template_name = "accounts/not_me_confirm.html"
    done_template_name = "accounts/not_me_done.html"

    def act(self, request) -> dict:
        lock_account(self.link, language=request_origin.language(request))
        if str(request.session.get(SESSION_KEY)) == str(self.link.user_id):
            logout(request)  # this browser's session ended with the others
        return {}


class EmailChangeConfirmView(OneTimeLinkView):
    """The link mailed to a new address: the page names the address; its POST sets it."""

    purpose = ChangeLink.Purpose.CONFIRM_EMAIL
    template_name = "accounts/email_change_confirm.html"
    done_template_name = "accounts/email_change_complete.html"

    def act(self, request) -> dict:
        confirm_email_change(self.link, **request_origin.origin(request))
        return {"new_email": self.link.new_email}
