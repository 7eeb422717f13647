"""The "forgot my password" flow, apart from any transport (JSON view, HTML form, worker).

Request: the API validates the address and publishes ``password.reset_requested``. It never
looks the address up, so a known and an unknown address cost the same and answer the same.
The worker finds the accounts and mails each one, at the address stored on it, a link and a
code issued at that moment (so the links and codes sent before them stop working).

Confirm: the token is checked, the new password validated (a refusal spends nothing), then
``shared.accounts.passwords.swap_password`` sets it: of any number of concurrent confirms, one wins.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from shared.accounts.passwords import PasswordChangedMeanwhile, swap_password
from shared.accounts.reset_codes import new_code
from shared.accounts.reset_tokens import reset_token_generator, rotate_nonce
from shared.infra import ratelimit
from shared.infra.redaction import hash_for_log
from shared.messaging.events import Event, PasswordResetRequestedV1, make_event
from shared.messaging.publisher import publish

log = logging.getLogger(__name__)


class InvalidResetLink(Exception):
    """The uid/token pair is malformed, expired, used, superseded or forged."""


# The quiet limits on reset requests for one address, in the order they are counted.
ADDRESS_LIMITS = (
    ("reset_email", "within the per-address cooldown"),
    ("reset_email_daily", "past the per-address daily cap"),
)


def request_password_reset(
    *, email: str, ip: str | None, user_agent: str, language: str, client: str | None = None
) -> Event | None:
    """Publish a reset request for ``email`` as typed. Does not touch the user table.

    ``client`` names the front end whose link template the email uses (``RESET_CLIENTS``;
    the API's serializer refuses an unknown name).

    Within the per-address cooldown (``reset_email``), or past the address's daily cap
    (``reset_email_daily``), nothing is published, quietly: the caller answers as usual, so the
    limits tell nothing about the address either. Only requests past the cooldown count
    towards the cap, so hammering one address does not use up its owner's day.
    """
    address = ratelimit.normalise_identifier(email)
    for scope, limit in ADDRESS_LIMITS:
        wait = ratelimit.hit(scope, address)
        if wait is not None:
            # Said in the log, since the answer cannot say it: someone trying the flow by hand
            # sees why no email came. The address goes in hashed, as in the worker's line.
            log.info("reset request for %s not sent: %s (%s), %d s to wait",
                     hash_for_log(email), limit, scope, math.ceil(wait))  # fmt: skip
            return None
    event = make_event(
        PasswordResetRequestedV1(
            email=email, client=client, ip=ip, user_agent=user_agent, language=language
        )
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


@dataclass(frozen=True)
class ResetCredentials:
    """What a reset email carries: a link and a code, both dead once either sets a password."""

    link: str
    code: str
    expires_at: datetime  # the link's
    code_expires_at: datetime


def link_template(client: str | None) -> str:
    """``client``'s link template (``RESET_CLIENTS``), else ``FRONTEND_RESET_URL``, else ""
    (this service's own page). The API refuses unknown names; one unknown here means the
    settings of the process sending the mail lack a name the API's had (settings drifted, or
    a deploy is half done): a working default link beats no email at all."""
    if client is None:
        return settings.FRONTEND_RESET_URL
    template = settings.RESET_CLIENTS.get(client)
    if template is None:
        log.error("reset client %r is not in this worker's RESET_CLIENTS: default link sent",
                  client)  # fmt: skip
        return settings.FRONTEND_RESET_URL
    return template


def issue_reset(user, *, client: str | None = None) -> ResetCredentials:
    """A fresh link and code for ``user`` (older ones stop working). The link follows
    ``client``'s template in ``RESET_CLIENTS``, else ``FRONTEND_RESET_URL``, else this
    service's own page, and is never built from a request's Host header."""
    code = new_code()
    now = timezone.now()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = reset_token_generator.issue(user, code=code)
    template = link_template(client)
    if template:
        link = template.format(uid=uid, token=token)
    else:
        path = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})
        link = settings.PUBLIC_BASE_URL + path
    return ResetCredentials(
        link=link,
        code=code,
        expires_at=now + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
        code_expires_at=now + timedelta(seconds=settings.RESET_CODE_TIMEOUT),
    )


def user_for_link(uidb64: str, token: str):
    """The account a link belongs to, if its token is valid now. Raises InvalidResetLink."""
    User = get_user_model()  # noqa: N806
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
        user = User._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError, ValidationError,
            User.DoesNotExist) as exc:  # fmt: skip
        raise InvalidResetLink from exc
    if not user.is_active or not reset_token_generator.check_token(user, token):
        raise InvalidResetLink
    return user


def complete_password_reset(
    user, new_password: str, *, ip: str | None, user_agent: str, language: str = "en"
) -> None:
    """Set ``user``'s password, once: raises InvalidResetLink if the link was used meanwhile.

    ``user`` is the row as it was when the token was checked; the swap only matches while the
    password hash and email are still those (see ``shared.accounts.passwords``), so of concurrent
    confirms of one link exactly one succeeds. The new nonce kills any other link sent.
    """
    try:
        swap_password(
            user, new_password, reason="reset", ip=ip, user_agent=user_agent, language=language,
            in_same_transaction=lambda: rotate_nonce(user),
        )  # fmt: skip
    except PasswordChangedMeanwhile:
        raise InvalidResetLink from None
