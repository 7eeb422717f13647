"""Every email names the service that sends it (``SITE_NAME``) in its subject, its From name and
its body, and the account it is about (handlers called directly)."""

from __future__ import annotations

import html

import pytest
from django.core import mail
from django.utils import timezone

from shared.accounts.change_links import account_state
from shared.messaging.events import (
    AccountLockedV1,
    EmailChangedV1,
    EmailChangeRequestedV1,
    PasswordChangedV1,
    PasswordResetRequestedV1,
    make_event,
)
from tests.factories import make_user
from workers.handlers.account_locked import send_account_locked_reset_link
from workers.handlers.email_change import (
    send_email_change_confirmation,
    send_email_changed_notice,
)
from workers.handlers.password_changed import send_password_changed_notice
from workers.handlers.password_reset import mail_reset_link, send_password_reset_email

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fake_redis")]

SITE = "Example Accounts"


@pytest.fixture(autouse=True)
def service(settings):
    settings.SITE_NAME = SITE
    settings.DEFAULT_FROM_EMAIL = "no-reply@example.org"
    settings.PUBLIC_BASE_URL = "https://accounts.example.org"


@pytest.fixture
def rita():
    return make_user("rita", "rita@example.org")


def handle(handler, payload):
    handler(make_event(payload), payload)


def reset_requested(user):
    handle(send_password_reset_email, PasswordResetRequestedV1(email=user.email))


def password_changed(user):
    payload = PasswordChangedV1(user_id=user.pk, reason="change", changed_at=timezone.now())
    handle(send_password_changed_notice, payload)


def forced_reset(user):
    mail_reset_link(user, template="password_reset_forced")


def locked(user):
    payload = AccountLockedV1(user_id=user.pk, reason="not_me", locked_at=timezone.now())
    handle(send_account_locked_reset_link, payload)


def address_changed(user):
    user.email = "rita@new.example"
    user.save()
    payload = EmailChangedV1(
        user_id=user.pk, old_email="rita@example.org", new_email="rita@new.example",
        changed_at=timezone.now(),
    )  # fmt: skip
    handle(send_email_changed_notice, payload)


def confirm_new_address(user):
    payload = EmailChangeRequestedV1(
        user_id=user.pk, new_email="rita@new.example", state=account_state(user)
    )
    handle(send_email_change_confirmation, payload)


# Each email, and how it names the account.
ACCOUNT_EMAILS = [
    (reset_requested, "rita (rita@example.org)"),
    (password_changed, "rita (rita@example.org)"),
    (forced_reset, "rita (rita@example.org)"),
    (locked, "rita (rita@example.org)"),
    (address_changed, "rita (rita@new.example)"),
    # Mailed to the new address: the username only, so a mistyped address learns nothing of
    # the old one.
    (confirm_new_address, "rita"),
]


def parts(message) -> list[str]:
    [(html_part, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return [message.body, html.unescape(html_part)]


@pytest.mark.parametrize(
    ("send", "account"), ACCOUNT_EMAILS, ids=lambda v: getattr(v, "__name__", v)
)
def test_every_email_names_the_service_and_the_account(rita, send, account):
    send(rita)
    [message] = mail.outbox
    assert message.subject.startswith(f"{SITE}: ")
    assert message.from_email == f"{SITE} <no-reply@example.org>"
    for part in parts(message):
        assert SITE in part
        assert f"Account: {account}" in part
    if send is confirm_new_address:
        assert "rita@example.org" not in message.body


def test_the_address_in_use_notice_names_the_account_that_has_it_not_the_requester(rita):
    make_user("sam", "sam@example.org")
    payload = EmailChangeRequestedV1(
        user_id=rita.pk, new_email="SAM@example.org", state=account_state(rita)
    )
    handle(send_email_change_confirmation, payload)
    [message] = mail.outbox
    assert message.to == ["SAM@example.org"]
    assert message.subject == f"{SITE}: Someone tried to use this address"
    for part in parts(message):
        assert "Account: SAM@example.org" in part
        assert "rita" not in part


def test_the_no_account_notice_names_the_service(settings):
    settings.RESET_NOTIFY_UNKNOWN_EMAIL = True
    handle(send_password_reset_email, PasswordResetRequestedV1(email="nobody@example.org"))
    [message] = mail.outbox
    assert message.subject == f"{SITE}: Password reset request"
    assert all(SITE in part for part in parts(message))
    assert "Account:" not in message.body  # there is none


def test_a_from_address_with_a_name_of_its_own_keeps_it(rita, settings):
    settings.DEFAULT_FROM_EMAIL = "Support <help@example.org>"
    reset_requested(rita)
    [message] = mail.outbox
    assert message.from_email == "Support <help@example.org>"


def test_a_site_name_with_a_newline_keeps_each_header_on_one_line(rita, settings):
    settings.SITE_NAME = "Example\r\nBcc: someone@example.net"
    reset_requested(rita)
    [message] = mail.outbox
    assert message.subject.startswith("Example Bcc: someone@example.net: ")
    assert message.message()["Bcc"] is None


def test_the_confirmation_to_a_new_address_names_no_address_of_the_account():
    user = make_user("rita@example.org", "rita@example.org")
    confirm_new_address(user)
    [message] = mail.outbox
    assert all("rita@example.org" not in part for part in parts(message))
