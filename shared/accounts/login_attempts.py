"""Guessing passwords: failed logins limited per account identifier, wherever one logs in.

Every login (the JSON API, the HTML page, the Django admin) goes through Django's
``authenticate()``. ``AccountLockoutBackend`` comes first in ``AUTHENTICATION_BACKENDS``: once an
identifier has ``login_account`` failures in the window (10 an hour by default), it refuses
every attempt on it, the right password included, until the oldest failure leaves the window.
Failures are counted from Django's ``user_login_failed`` signal.

The key is the identifier as typed, normalised (NFKC, case-folded), never the account found:
an address no account uses is counted and locked exactly like one that exists, so the lockout
tells an attacker nothing about which accounts exist. Lockout attempts themselves are not
counted, so an account locked by someone else opens again on time.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from shared.infra import ratelimit
from shared.infra.redaction import hash_for_log

log = logging.getLogger(__name__)

SCOPE = "login_account"
# Set on the request when the lockout refused it, to the seconds left: views answer with them.
LOCKED_ATTRIBUTE = "login_locked_for"


def _identifier(credentials: dict) -> str | None:
    User = get_user_model()  # noqa: N806
    value = (
        credentials.get("username")
        or credentials.get(User.USERNAME_FIELD)
        or credentials.get("email")
    )
    return ratelimit.normalise_identifier(value) if isinstance(value, str) and value else None


class AccountLockoutBackend:
    """Refuses, before any password is checked, the identifiers with too many failures."""

    def authenticate(self, request, **credentials):
        identifier = _identifier(credentials)
        if identifier is None:
            return None
        wait = ratelimit.exceeded(SCOPE, identifier)
        if wait is None:
            return None  # the next backends decide
        if request is not None:
            setattr(request, LOCKED_ATTRIBUTE, wait)
        log.warning("login refused: %s has too many failed attempts", hash_for_log(identifier))
        raise PermissionDenied  # authenticate() stops here and reports a failed login


@receiver(user_login_failed, dispatch_uid="resetpass.count_failed_login")
def count_failed_login(sender, credentials, request=None, **kwargs) -> None:
    if request is not None and getattr(request, LOCKED_ATTRIBUTE, None) is not None:
        return  # refused by the lockout itself: not a guess at the password
    identifier = _identifier(credentials)
    if identifier is not None:
        ratelimit.record(SCOPE, identifier)


class EmailBackend(ModelBackend):
    """Log in by address: ``authenticate(request, email=..., password=...)``.

    Addresses are matched case-insensitively; as several accounts may share one, the first
    whose password matches wins. An address no account uses still costs one password hash,
    as ModelBackend does for unknown usernames, so its answer takes as long.
    """

    def authenticate(self, request, email=None, password=None, **kwargs):
        if email is None or password is None:
            return None
        User = get_user_model()  # noqa: N806
        email_field = User.get_email_field_name()
        candidates = list(User._default_manager.filter(**{f"{email_field}__iexact": email})[:5])
        if not candidates:
            User().set_password(password)
            return None
        for candidate in candidates:
            if candidate.check_password(password) and self.user_can_authenticate(candidate):
                return candidate
        return None
