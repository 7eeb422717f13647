"""Which failures a handler retries, and what its logs may say about them."""

from __future__ import annotations

import json
import logging
import smtplib

import pytest
from celery.worker.request import Request
from django.db import DatabaseError, OperationalError

from shared.messaging import celery_wire
from shared.messaging.celery_app import app
from shared.messaging.events import PasswordResetRequestedV1, make_event
from tests.conftest import queued_messages
from tests.factories import make_user
from workers import handler_tasks
from workers.handler_tasks import MAX_RETRIES, is_transient, retry_countdown
from workers.handlers import password_reset


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (smtplib.SMTPResponseException(421, b"try later"), True),
        (smtplib.SMTPDataError(451, b"local error"), True),
        (smtplib.SMTPRecipientsRefused({"a@x": (450, b"busy")}), True),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (OperationalError("server closed the connection"), True),
        (smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}), False),
        (smtplib.SMTPResponseException(554, b"rejected"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False),
        (ValueError("a bug"), False),
    ],
)
def test_transient_failures_are_told_from_permanent_ones(exc, transient):
    assert is_transient(exc) is transient


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    for retries in range(12):
        step = min(600, 2 * 2**retries)
        samples = {retry_countdown(retries) for _ in range(20)}
        assert all(step / 2 <= s <= step for s in samples)
        assert len(samples) > 1


def test_handlers_retry_with_celerys_own_options_and_our_schedule():
    """Celery decides what is retried and how often (``autoretry_for``, ``max_retries``); the
    wait is ours: Celery's ``retry_backoff`` has full jitter, which can spend all the retries
    within seconds of a failure (tests/integration/test_faults.py lost 5 emails of 20 to a
    20-second SMTP outage with it)."""
    task = password_reset.send_password_reset_email.task
    assert task.autoretry_for == (handler_tasks.TransientFailure,)
    assert task.retry_backoff is False
    assert task.max_retries == MAX_RETRIES == 8


@pytest.mark.django_db
def test_a_busy_recipient_is_retried_then_given_up_without_the_address_in_any_log(
    monkeypatch, caplog
):
    make_user("mike", "mike@example.org")

    def refuse(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"mike@example.org": (450, b"mailbox busy")})

    monkeypatch.setattr(password_reset, "send_templated_email", refuse)
    message = make_event(PasswordResetRequestedV1(email="mike@example.org")).to_message()
    with caplog.at_level(logging.INFO):
        # Run eagerly, Celery performs the retries inline, without their countdowns.
        result = password_reset.send_password_reset_email.task.apply(args=[message])
    assert caplog.text.count("will retry event") == MAX_RETRIES
    assert f"gave up on event {message['id']} after {MAX_RETRIES + 1} tries" in caplog.text
    assert result.state == "FAILURE"
    assert "SMTPRecipientsRefused codes=[450]" in caplog.text
    assert "mike@example.org" not in caplog.text


@pytest.mark.django_db
def test_a_malformed_event_is_refused_without_logging_its_content(caplog):
    message = make_event(PasswordResetRequestedV1(email="secret@example.org")).to_message()
    message["payload"]["email"] = ["secret@example.org"]
    with caplog.at_level(logging.INFO):
        result = password_reset.send_password_reset_email.task.apply(args=[message])
    assert result.state == "SUCCESS"  # dropped, not retried forever
    assert "refused a malformed event" in caplog.text
    assert "secret@example.org" not in caplog.text


def work_off_one(queue: str) -> None:
    """Take the next message off ``queue`` and run it as a worker does (not eagerly), so that
    a retry is really sent to the broker."""
    with app.connection_for_read() as connection:
        message = connection.default_channel.basic_get(queue, no_ack=True)
        task = app.tasks[message.headers["task"]]
        Request(message, app=app, task=task, hostname="unit@localhost").execute()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("reply", "dead_letters_writable"),
    [(450, True), (550, False)],
    ids=["transient-failure", "dead-letter-unwritable"],
)
def test_a_retried_task_still_shows_no_address_in_flower(
    monkeypatch, fake_redis, reply, dead_letters_writable
):
    make_user("mike", "mike@example.org")

    def refuse(*args, **kwargs):
        raise smtplib.SMTPRecipientsRefused({"mike@example.org": (reply, b"refused")})

    def database_down(**kwargs):
        raise DatabaseError("database unreachable")

    monkeypatch.setattr(password_reset, "send_templated_email", refuse)
    if not dead_letters_writable:
        monkeypatch.setattr(handler_tasks.dead_letters, "record", database_down)
    message = make_event(PasswordResetRequestedV1(email="mike@example.org")).to_message()
    celery_wire.send(message)

    work_off_one("email")

    [retried] = queued_messages(fake_redis, "email")
    assert retried["args"] == message  # the event itself still travels
    assert retried["headers"]["retries"] == 1
    assert retried["headers"]["argsrepr"] == f"(password.reset_requested event {message['id']})"
    assert retried["headers"]["kwargsrepr"] == "{}"
    assert "mike@example.org" not in json.dumps(retried["headers"])


@pytest.mark.parametrize(
    "message",
    [
        {"id": "mike@example.org", "type": "password.reset_requested"},
        {"id": "0b5a4c7e-8f4e-4d5c-9a57-6f9d8b1b2c3d", "type": "mike@example.org"},
        {"id": ["mike@example.org"], "type": ["mike@example.org"]},
        ["mike@example.org"],
    ],
)
def test_what_a_malformed_message_claims_is_not_shown_for_it(message):
    assert "mike@example.org" not in handler_tasks.task_argsrepr(message)
