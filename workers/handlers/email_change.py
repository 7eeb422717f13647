"""``email.change_requested`` and ``email.changed`` on the ``email`` queue: the confirmation to
the new address, and the notice, with its "this wasn't me" link, to the old one."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation

from shared.accounts import change_links
from shared.accounts.email_change import email_in_use
from shared.accounts.password_reset import email_of
from shared.messaging.events import (
    EMAIL_CHANGE_REQUESTED,
    EMAIL_CHANGED,
    EmailChangedV1,
    EmailChangeRequestedV1,
    Event,
)
from shared.models import ChangeLink
from workers.emails import account_name, send_templated_email
from workers.handler_tasks import handles
from workers.handlers.password_changed import display_ip, not_me_context
from workers.user_agents import describe_user_agent

log = logging.getLogger(__name__)


def _active_user(user_id: int):
    return get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()


@handles(EMAIL_CHANGE_REQUESTED)
def send_email_change_confirmation(event: Event, payload: EmailChangeRequestedV1) -> None:
    """Mail the new address a link that confirms it, or, when another account uses it, a
    notice that someone tried: the requester learns nothing either way (the API said 202)."""
    user = _active_user(payload.user_id)
    if user is None:
        return
    with translation.override(payload.language):
        if email_in_use(payload.new_email, besides=user):
            send_templated_email(
                "email_change_in_use", to=payload.new_email,
                # The account this mail is about is the one that has this address: named by
                # it, never by the requester's name.
                context={"site_url": settings.PUBLIC_BASE_URL, "account": payload.new_email},
            )  # fmt: skip
            log.info("email change %s of user %s: the address is in use, notice sent",
                     event.id, user.pk)  # fmt: skip
            return
        if payload.new_email.casefold() == (email_of(user) or "").casefold():
            return  # already the account's address (changed meanwhile): nothing to confirm
        confirm_url = change_links.issue(
            user, ChangeLink.Purpose.CONFIRM_EMAIL, change_id=event.id,
            asked_at=event.occurred_at, new_email=payload.new_email, state=payload.state,
        )  # fmt: skip
        if confirm_url is None:
            log.info("email change %s of user %s: superseded, or the account changed since",
                     event.id, user.pk)  # fmt: skip
            return
        send_templated_email(
            "email_change_confirm", to=payload.new_email,
            context={
                # Its username only: a mistyped new address learns nothing of the old one.
                "account": account_name(user, with_address=False),
                "confirm_url": confirm_url,
                "lifetime_hours": max(1, settings.EMAIL_CHANGE_TIMEOUT // 3600),
                "site_url": settings.PUBLIC_BASE_URL,
            },
        )  # fmt: skip
    log.info("email change %s of user %s: confirmation mailed", event.id, user.pk)


@handles(EMAIL_CHANGED)
def send_email_changed_notice(event: Event, payload: EmailChangedV1) -> None:
    """Tell the old address what happened, with a "this wasn't me" link that also gives the
    address back."""
    user = _active_user(payload.user_id)
    if user is None or not payload.old_email:
        return
    not_me = not_me_context(user, event, sent_to=payload.old_email, after_address_change=True)
    if not_me is None:
        return
    with translation.override(payload.language):
        send_templated_email(
            "email_changed", to=payload.old_email,
            context={
                "user": user,
                "new_email": payload.new_email,
                "changed_at": payload.changed_at,
                "ip": display_ip(payload.ip),
                "device": describe_user_agent(payload.user_agent),
                **not_me,
            },
        )  # fmt: skip
    log.info("email change %s of user %s: the old address was told", event.id, user.pk)
