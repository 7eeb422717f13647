"""Server-rendered pages for people in a browser: Django's auth views, configured."""

from __future__ import annotations

import math

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic.edit import FormView

from api.forms import (
    RESET_EMAIL_SESSION_KEY,
    ChangePasswordForm,
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
from shared.accounts.browser_sessions import session_key_cycled
from shared.accounts.password_reset import InvalidResetLink
from shared.accounts.passwords import PasswordChangedMeanwhile
from shared.accounts.reset_tokens import reset_token_generator
from shared.models import UserSession


def _no_store(view):
    """Reset pages (an address typed, a token in the session) are kept by no cache."""

    def wrapped(request, *args, **kwargs):
        return no_store(view(request, *args, **kwargs))

    return wrapped


class ThrottledPostMixin:
    """The API's throttles (``api.throttles``) on form posts: over the limit, a page that says
    when to try again, with Retry-After."""

    throttle_classes: tuple = ()

    def post(self, request, *args, **kwargs):
        for throttle in (cls() for cls in self.throttle_classes):
            if not throttle.allow_request(request, self):
                seconds = math.ceil(throttle.wait())
                response = render(
                    request, "accounts/throttled.html", {"seconds": seconds}, status=429
                )
                response["Retry-After"] = str(seconds)
                return response
        return super().post(request, *args, **kwargs)


class LoginView(ThrottledPostMixin, auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True
    throttle_classes = (LoginIPThrottle,)


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
