"""Middleware of ours: an absolute lifetime for browser sessions, and the
Content-Security-Policy header."""

from __future__ import annotations

import time

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware

from shared.accounts.browser_sessions import STARTED_AT


class AbsoluteSessionLifetimeMiddleware:
    """Browser sessions end ``SESSION_MAX_AGE`` seconds after they began, however active.

    Django gives a session an idle lifetime (``SESSION_COOKIE_AGE``, renewed by every request with
    ``SESSION_SAVE_EVERY_REQUEST``) but no absolute one: a session kept busy, by its owner or by
    whoever stole its cookie, would live for ever. The start time is written into the session at
    login (``shared.accounts.browser_sessions``), or the first time a session is seen without one; a
    session older than the limit is flushed before any view reads it, which signs its user out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Only a browser that sent a session cookie has a session to load: API calls pay
        # nothing here.
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            session = request.session
            started = session.get(STARTED_AT)
            now = time.time()
            if started is None:
                if not session.is_empty():
                    session[STARTED_AT] = now
            elif now - started > settings.SESSION_MAX_AGE:
                session.flush()
        return self.get_response(request)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware for pages, and one fixed policy for JSON answers.

    django-csp builds the header for each response from settings (about 70 µs, 7 % of a reset
    request's CPU). A JSON answer loads nothing, so it gets a constant policy that allows
    nothing and may not be framed, which is stricter than the pages' and costs a dict write.
    """

    JSON_POLICY = "default-src 'none'; frame-ancestors 'none'"

    def process_response(self, request, response):
        if response.get("Content-Type", "").startswith("application/json"):
            if HEADER not in response:
                response[HEADER] = self.JSON_POLICY
            return response
        return super().process_response(request, response)


class RevocableSessionMiddleware(SessionMiddleware):
    """Django's session middleware, for sessions the workers may end while a request runs (a
    password change, a deactivation: every session of the user is deleted). Django then
    refuses to save the session and answers 400; here the request's own answer stands, as the
    signed-out request it now is, and the cookie of the ended session is cleared."""

    def process_response(self, request, response):
        try:
            return super().process_response(request, response)
        except SessionInterrupted:
            response.delete_cookie(
                settings.SESSION_COOKIE_NAME, path=settings.SESSION_COOKIE_PATH,
                domain=settings.SESSION_COOKIE_DOMAIN, samesite=settings.SESSION_COOKIE_SAMESITE,
            )  # fmt: skip
            return response
