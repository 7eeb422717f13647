"""One-time links about a change to an account: the link that confirms a new address, and the
"this wasn't me" link in the notice of a password or address change.

Unlike a reset token, such a link cannot be derived from the account's state: a "this wasn't
me" link must keep working after the person who made the change changes the account again (an
intruder who moves the address twice must not be able to kill the first notice's link), and an
address change must carry the address to set. So each link is a row (``ChangeLink``) holding
a keyed hash of a random secret that only the email carries: nothing stored can be replayed,
each link answers one change (the event that asked for it), and it works once.

Opening a link (GET) spends nothing, so that mail scanners do no harm; ``claim`` spends it, in
the caller's transaction, and of concurrent claims exactly one wins.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from shared.infra.upsert import upsert
from shared.models import ChangeLink

SECRET_SALT = "resetpass.accounts.change_links.secret"  # noqa: S105 - a salt name
STATE_SALT = "resetpass.accounts.change_links.state"

# The page each kind of link opens (api/urls.py).
URL_NAMES = {
    ChangeLink.Purpose.CONFIRM_EMAIL: "email_change_confirm",
    ChangeLink.Purpose.NOT_ME: "not_me",
}


class DeadLink(Exception):
    """The link is malformed, forged, used, expired or superseded."""


def lifetime(purpose: str) -> timedelta:
    seconds = (
        settings.EMAIL_CHANGE_TIMEOUT
        if purpose == ChangeLink.Purpose.CONFIRM_EMAIL
        else settings.NOT_ME_TIMEOUT
    )
    return timedelta(seconds=seconds)


def _digest(secret: str) -> str:
    return salted_hmac(SECRET_SALT, secret, algorithm="sha256").hexdigest()


def account_state(user) -> str:
    """A keyed fingerprint of what a pending address change was asked against: the password
    hash and the address. If either changes before the confirmation, the confirmation dies."""
    email = getattr(user, get_user_model().get_email_field_name()) or ""
    return salted_hmac(STATE_SALT, f"{user.password}\x00{email}", algorithm="sha256").hexdigest()


def issue(
    user,
    purpose: str,
    *,
    change_id: uuid.UUID,
    asked_at: datetime,
    new_email: str = "",
    old_email: str = "",
    state: str = "",
) -> str | None:
    """A new link for ``change_id`` (the event that asks for it, made at ``asked_at``, from
    which the link's lifetime counts), as a full URL on PUBLIC_BASE_URL, or None when the
    change may no longer get one. Issued again for the same change (a retried handler), the
    link replaces the one before, which was never mailed.

    The worker may handle an event long after it was made (a retry, a backlog), and the account
    may have moved on meanwhile, so what decides is the account as it was asked about:

    * an address confirmation needs ``state``, the account's state (``account_state``) when
      the change was asked, to be the state now: a password or address change since (a lock
      included) leaves the request without a link;
    * only the newest confirmation works, by when it was asked: a request older than one
      already answered (mailed or confirmed) gets none, and a newer one supersedes the older;
    * a "this wasn't me" link is not given to a change made between a disowned change and the
      lock that disowned it: the lock undid it, and its notice may go to an intruder's address.
    """
    links = ChangeLink.objects.filter(user_id=user.pk, purpose=purpose).exclude(change_id=change_id)
    if purpose == ChangeLink.Purpose.CONFIRM_EMAIL:
        if not state or state != account_state(user):
            return None
        if links.filter(created_at__gt=asked_at).exists():
            return None
        links.filter(created_at__lte=asked_at, used_at=None).delete()
    elif links.filter(created_at__lt=asked_at, used_at__gt=asked_at).exists():
        return None
    secret = secrets.token_urlsafe(32)
    row = {
        "purpose": purpose,
        "change_id": change_id,
        "user": user.pk,
        "secret_hash": _digest(secret),
        "new_email": new_email,
        "old_email": old_email,
        "state": state if purpose == ChangeLink.Purpose.CONFIRM_EMAIL else "",
        "created_at": asked_at,
        "used_at": None,
    }
    upsert(
        ChangeLink, row, conflict=["purpose", "change_id"],
        update=["secret_hash", "created_at", "used_at", "state"],
    )  # fmt: skip
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse(URL_NAMES[purpose], kwargs={"uidb64": uid, "token": secret})
    return settings.PUBLIC_BASE_URL + path


def find(purpose: str, uidb64: str, token: str) -> ChangeLink:
    """The live link that ``uidb64`` and ``token`` name, its user loaded; spends nothing.
    Raises DeadLink."""
    try:
        user_id = int(urlsafe_base64_decode(uidb64).decode())
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise DeadLink from exc
    if not (0 < user_id < 2**63) or not isinstance(token, str) or not 20 <= len(token) <= 100:
        raise DeadLink
    link = (
        ChangeLink.objects.select_related("user")
        .filter(
            purpose=purpose,
            user_id=user_id,
            secret_hash=_digest(token),
            used_at=None,
            created_at__gt=timezone.now() - lifetime(purpose),
        )  # fmt: skip
        .first()
    )
    if link is None or not link.user.is_active:
        raise DeadLink
    if purpose == ChangeLink.Purpose.CONFIRM_EMAIL and link.state != account_state(link.user):
        raise DeadLink  # the password or the address changed since it was asked
    return link


def claim(link: ChangeLink) -> None:
    """Spend ``link``, inside the caller's transaction. Raises DeadLink if another request
    spent it first."""
    spent = ChangeLink.objects.filter(pk=link.pk, used_at=None).update(used_at=timezone.now())
    if spent != 1:
        raise DeadLink
