"""Changing the address of an account (signed in, password checked), apart from any transport.

Request: the API checks the password and publishes ``email.change_requested``; it does not
look the new address up, so a free address and one another account uses answer the same. The
worker mails the new address a confirmation link, or, if it is in use, a "someone tried to use
this address" notice.

Confirm: the link is spent and the address set in one transaction, with ``email.changed``
published in it; the reset links and codes sent before die (their tokens cover the address, and
the nonce turns). The worker then tells the old address, with a "this wasn't me" link that
locks the account and gives that address back (``shared.accounts.not_me``).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from shared.accounts.change_links import DeadLink, account_state, claim
from shared.accounts.reset_tokens import rotate_nonce
from shared.infra import ratelimit
from shared.messaging.events import EmailChangedV1, EmailChangeRequestedV1, Event, make_event
from shared.messaging.publisher import publish
from shared.models import ChangeLink

WRONG_PASSWORD = _("Your password was entered incorrectly.")
SAME_ADDRESS = _("This is already the address of your account.")


def is_current_address(user, new_email: str) -> bool:
    """Whether ``new_email`` is already ``user``'s address (compared case-insensitively): the
    API and the page refuse it, since there is nothing to confirm."""
    current = getattr(user, get_user_model().get_email_field_name()) or ""
    return new_email.casefold() == current.casefold()


def email_in_use(email: str, *, besides=None) -> bool:
    """Whether an account (other than ``besides``) uses ``email``, compared case-insensitively."""
    rows = get_user_model()._default_manager.filter(email__iexact=email)
    if besides is not None:
        rows = rows.exclude(pk=besides.pk)
    return rows.exists()


def request_email_change(
    user, new_email: str, *, ip: str | None, user_agent: str, language: str = "en"
) -> Event | None:
    """Publish the request; the caller has checked ``user``'s password and the address's form.

    The new address is mailed on the say-so of someone who has not proved they hold it, so it
    gets the limits an address gets on reset requests, counted apart from them: within the
    cooldown (``reset_email``) or past the daily cap (``reset_email_daily``) nothing is
    published, quietly, and the caller answers as usual. One account cannot make the service
    mail someone else's address more than that."""
    target = "email-change:" + ratelimit.normalise_identifier(new_email)
    if ratelimit.hit("reset_email", target) is not None:
        return None
    if ratelimit.hit("reset_email_daily", target) is not None:
        return None
    event = make_event(
        EmailChangeRequestedV1(
            user_id=user.pk,
            new_email=new_email,
            state=account_state(user),
            ip=ip,
            user_agent=user_agent,
            language=language,
        )  # fmt: skip
    )
    publish(event)
    return event


def confirm_email_change(
    link: ChangeLink, *, ip: str | None, user_agent: str, language: str = "en"
) -> None:
    """Set the address ``link`` confirms (from ``change_links.find``), once. Raises DeadLink if
    the link was spent meanwhile, the account changed, or the address was taken since."""
    User = get_user_model()  # noqa: N806
    user = link.user
    email_field = User.get_email_field_name()
    old_email = getattr(user, email_field) or ""
    with transaction.atomic():
        if email_in_use(link.new_email, besides=user):
            raise DeadLink  # another account took it after the link was mailed
        claim(link)
        moved = User._default_manager.filter(
            pk=user.pk, password=user.password, **{email_field: old_email}
        ).update(**{email_field: link.new_email})
        if moved != 1:
            raise DeadLink  # the password or the address changed meanwhile
        setattr(user, email_field, link.new_email)
        ChangeLink.objects.filter(
            user_id=user.pk, purpose=ChangeLink.Purpose.CONFIRM_EMAIL, used_at=None
        ).delete()
        rotate_nonce(user)  # outstanding reset links and codes die
        publish(
            make_event(
                EmailChangedV1(
                    user_id=user.pk, old_email=old_email, new_email=link.new_email, ip=ip,
                    user_agent=user_agent, language=language, changed_at=timezone.now(),
                )
            )
        )  # fmt: skip
