""" "This wasn't me": the owner of an account takes it back after someone else changed its
password or its address.

The notice of each change carries a one-time link (``shared.accounts.change_links``, valid
``NOT_ME_TIMEOUT``). Opening it changes nothing; confirming it (a POST) locks the account in
one transaction:

* the password becomes unusable, so every access token, refresh token and browser session
  is refused from that moment (they are bound to the password hash);
* after an address change, the old address comes back (unless another account took it since);
* pending address confirmations, reset links and codes die, and so do the "this wasn't me"
  links of later changes (an intruder's notices), so that none of them can undo the lock;
* ``account.locked`` (reason ``not_me``) is published: the workers delete the stored tokens and
  sessions, mail a fresh reset link to the address on the account, and tell other systems.
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from shared.accounts.change_links import claim
from shared.accounts.email_change import email_in_use
from shared.accounts.reset_tokens import rotate_nonce
from shared.messaging.events import AccountLockedV1, make_event
from shared.messaging.publisher import publish
from shared.models import ChangeLink

log = logging.getLogger(__name__)


def lock_account(link: ChangeLink, *, language: str = "en") -> None:
    """Lock the account of ``link`` (from ``change_links.find``). Raises DeadLink if another
    request spent the link first."""
    User = get_user_model()  # noqa: N806
    email_field = User.get_email_field_name()
    user = link.user
    with transaction.atomic():
        claim(link)
        user = User._default_manager.select_for_update().get(pk=user.pk)
        changes = {"password": make_password(None)}
        restore = link.old_email and link.old_email != getattr(user, email_field)
        reset_link = True
        if restore and not email_in_use(link.old_email, besides=user):
            changes[email_field] = link.old_email
        elif restore:
            # The account keeps an address the intruder may hold: no reset link goes there.
            reset_link = False
            log.warning("lock of user %s: the old address is another account's now", user.pk)
        User._default_manager.filter(pk=user.pk).update(**changes)
        for field, value in changes.items():
            setattr(user, field, value)
        ChangeLink.objects.filter(
            user_id=user.pk, purpose=ChangeLink.Purpose.CONFIRM_EMAIL, used_at=None
        ).delete()
        # The changes after the one disowned are the intruder's too, and their notices may have
        # gone to an address the intruder set: their links die, or one of them would "give
        # back" that address and take the account again. The earliest disowned change wins;
        # links of earlier changes stay, so the owner's link still works after an intruder's.
        ChangeLink.objects.filter(
            user_id=user.pk, purpose=ChangeLink.Purpose.NOT_ME, used_at=None,
            created_at__gt=link.created_at,
        ).delete()  # fmt: skip
        rotate_nonce(user)
        publish(
            make_event(
                AccountLockedV1(
                    user_id=user.pk, reason="not_me", locked_at=timezone.now(), language=language,
                    email=getattr(user, email_field) or None, reset_link=reset_link,
                )
            )
        )  # fmt: skip
    log.info("user %s locked their account (this wasn't me)", user.pk)
