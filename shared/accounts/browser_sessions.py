"""Django (cookie) sessions, indexed by user so that ending a user's sessions reads only
that user's rows (``UserSession``)."""

from __future__ import annotations

import time
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.utils import timezone

from shared.models import UserSession

# Where a session keeps the time it began (a login), for its absolute lifetime
# (SESSION_MAX_AGE, api/middleware.py).
STARTED_AT = "_resetpass_started_at"


@receiver(user_logged_in, dispatch_uid="resetpass.record_browser_session")
def record_browser_session(sender, request, user, **kwargs) -> None:
    """Called by Django's ``login()``, after it gave the session a fresh key."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if key:  # an API login has a session object, but no cookie and no key: none to record
        session[STARTED_AT] = time.time()
        UserSession.objects.update_or_create(
            session_key=key, defaults={"user": user, "created_at": timezone.now()}
        )


def session_key_cycled(old_key: str | None, new_key: str | None, user) -> None:
    """Follow a session whose key changed (``update_session_auth_hash`` cycles it)."""
    if not new_key:
        return
    UserSession.objects.filter(session_key=old_key).delete()
    UserSession.objects.update_or_create(
        session_key=new_key, defaults={"user": user, "created_at": timezone.now()}
    )


def end_browser_sessions(user_id: int, *, before: datetime, keep: str | None = None) -> int:
    """End the user's Django sessions begun before ``before``, except ``keep``."""
    rows = UserSession.objects.filter(user_id=user_id, created_at__lte=before)
    if keep:
        rows = rows.exclude(session_key=keep)
    keys = list(rows.values_list("session_key", flat=True))
    if not keys:
        return 0
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.db":
        from django.contrib.sessions.models import Session

        Session.objects.filter(session_key__in=keys).delete()
    else:
        store = import_module(settings.SESSION_ENGINE).SessionStore
        for key in keys:
            store(session_key=key).delete()
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)
