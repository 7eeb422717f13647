"""The email worker's reaction to password.reset_requested (handler called directly)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core import mail

from shared.messaging.events import PasswordResetRequestedV1, make_event
from shared.models import PasswordResetNonce, ProcessedEvent
from workers.handlers.password_reset import send_password_reset_email

pytestmark = pytest.mark.django_db

User = get_user_model()


def handle(email, language="en"):
    payload = PasswordResetRequestedV1(
        email=email, ip="192.0.2.1", user_agent="ua", language=language
    )
    send_password_reset_email(make_event(payload), payload)


@pytest.fixture
def mike(db):
    return User.objects.create_user("mike", "Mike@Example.org", "a-long-passphrase-1")


def test_mail_goes_to_the_address_stored_on_the_account_not_the_one_typed(settings, mike):
    settings.PUBLIC_BASE_URL = "https://accounts.example.org"
    handle("MIKE@example.ORG")
    [message] = mail.outbox
    assert message.to == ["Mike@example.org"]
    assert "https://accounts.example.org/accounts/reset/" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "https://accounts.example.org/accounts/reset/" in html
    assert message.subject == "Account security: Reset your password"


@pytest.mark.parametrize(
    "lookalike", ["mıke@example.org", "\u212aim@example.org"], ids=["dotless-i", "kelvin-sign"]
)
def test_unicode_lookalike_addresses_are_never_mailed(lookalike, db):
    User.objects.create_user("mike", "mike@example.org", "a-long-passphrase-1")
    User.objects.create_user("kim", "kim@example.org", "a-long-passphrase-1")
    handle(lookalike)
    assert mail.outbox == []
    handle("mike@example.org")  # while the account's own address is mailed
    assert [message.to for message in mail.outbox] == [["mike@example.org"]]


def test_unknown_address_gets_no_mail_by_default(db):
    handle("nobody@example.org")
    assert mail.outbox == []


def test_unknown_address_gets_a_no_account_notice_when_enabled(settings, db):
    settings.RESET_NOTIFY_UNKNOWN_EMAIL = True
    handle("nobody@example.org")
    [message] = mail.outbox
    assert message.to == ["nobody@example.org"]
    assert "no account" in message.body
    assert "/accounts/reset/" not in message.body


def test_inactive_accounts_and_unusable_passwords_get_no_link(db):
    User.objects.create_user("gone", "gone@example.org", "a-long-passphrase-1", is_active=False)
    sso = User.objects.create_user("sso", "sso@example.org")
    assert not sso.has_usable_password()
    handle("gone@example.org")
    handle("sso@example.org")
    assert mail.outbox == []
    User.objects.filter(pk=sso.pk).update(password=make_password("a-long-passphrase-1"))
    handle("sso@example.org")  # the same account, once it has a password, gets its link
    [message] = mail.outbox
    assert "/accounts/reset/" in message.body


def test_frontend_reset_url_template_is_used_when_configured(settings, mike):
    settings.FRONTEND_RESET_URL = "https://app.example.org/reset?uid={uid}&token={token}"
    handle("mike@example.org")
    [message] = mail.outbox
    assert "https://app.example.org/reset?uid=" in message.body


@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("fr", "Réinitialiser votre mot de passe", "minutes"),
        ("de", "Ihr Passwort zurücksetzen", "Minuten"),
        ("en", "Reset your password", "minutes"),
    ],
)
def test_email_is_written_in_the_language_of_the_request(mike, language, subject, phrase):
    handle("mike@example.org", language=language)
    [message] = mail.outbox
    assert message.subject.startswith(settings.SITE_NAME)
    assert message.subject.endswith(subject)
    assert phrase in message.body
    assert "/accounts/reset/" in message.body
    assert "60" in message.body  # the link's lifetime


def test_api_messages_follow_accept_language(client, fake_redis, transactional_db):
    import json

    response = client.post(
        "/api/auth/password/reset/", data=json.dumps({"email": "x@example.org"}),
        content_type="application/json", HTTP_ACCEPT_LANGUAGE="fr",
    )  # fmt: skip
    assert response.json()["detail"].startswith("Si un compte utilise cette adresse")


def test_the_worker_caps_reset_emails_per_account_per_day(settings, fake_redis, mike):
    from tests.conftest import set_rates

    set_rates(settings, reset_email_daily="2/day")
    for typed in ("mike@example.org", "MIKE@example.org", "Mike@Example.org"):
        handle(typed)
    assert len(mail.outbox) == 2


def test_a_retried_reset_event_counts_once_towards_the_account_cap(settings, fake_redis, mike):
    from tests.conftest import set_rates

    set_rates(settings, reset_email_daily="2/day")
    payload = PasswordResetRequestedV1(
        email="mike@example.org", ip="192.0.2.1", user_agent="ua", language="en"
    )
    event = make_event(payload)
    for _ in range(3):  # the same event delivered three times (retries, redelivery)
        send_password_reset_email(event, payload)
    handle("mike@example.org")  # a new request still gets its email
    assert len(mail.outbox) == 4


def test_what_sending_a_link_stores_fits_the_columns_postgresql_enforces(mike):
    """SQLite stores a string of any length in a varchar; PostgreSQL refuses one longer than
    the column with an error, and the email would never go. The model's own validation
    holds the stored row to the same lengths on every database."""
    handle("mike@example.org")
    handle("mike@example.org")  # the second link rotates the row the first one wrote
    assert len(mail.outbox) == 2
    stored = PasswordResetNonce.objects.get(user=mike)
    stored.full_clean()
    assert len(stored.value) == 32  # 128 random bits, as hex


def test_a_redelivered_reset_event_mails_once(mike):
    message = make_event(PasswordResetRequestedV1(email="mike@example.org")).to_message()
    task = send_password_reset_email.task
    task.apply(args=[message])
    task.apply(args=[message])
    assert [m.to for m in mail.outbox] == [["Mike@example.org"]]
    assert ProcessedEvent.objects.filter(handler="handlers.send_password_reset_email").count() == 1


def test_a_redelivered_unknown_address_event_sends_one_notice(settings, db):
    settings.RESET_NOTIFY_UNKNOWN_EMAIL = True
    message = make_event(PasswordResetRequestedV1(email="nobody@example.org")).to_message()
    task = send_password_reset_email.task
    task.apply(args=[message])
    task.apply(args=[message])
    assert [m.to for m in mail.outbox] == [["nobody@example.org"]]
