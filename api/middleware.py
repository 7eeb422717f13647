"""Browser sessions end ``SESSION_MAX_AGE`` seconds after they began, however active.

Django gives a session an idle lifetime (``SESSION_COOKIE_AGE``, renewed by every request with
``SESSION_SAVE_EVERY_REQUEST``) but no absolute one: a session kept busy, by its owner or by
whoever stole its cookie, would live for ever. The start time is written into the session the
first time it is seen (``shared.browser_sessions`` writes it at login); a session older than
the limit is flushed before any view reads it, which signs its user out.
"""

from __future__ import annotations

import time

from django.conf import settings

from shared.browser_sessions import STARTED_AT


class AbsoluteSessionLifetimeMiddleware:
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
