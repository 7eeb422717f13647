"""Events a handler gives up on land in the dead-letter table, and operators can replay them."""

from __future__ import annotations

import smtplib

import pytest
from django.core.management import call_command

from shared.events import PasswordResetRequestedV1, make_event
from shared.models import DeadLetter
from tests.conftest import queued_messages
from tests.factories import make_user
from workers.handlers import password_reset
from workers.registry import MAX_RETRIES

pytestmark = pytest.mark.django_db


def reset_message(email="mike@example.org"):
    return make_event(PasswordResetRequestedV1(email=email)).to_message()


def failing_with(exc):
    def send(*args, **kwargs):
        raise exc

    return send


def run(message):
    return password_reset.send_password_reset_email.task.apply(args=[message])


def test_a_permanent_smtp_refusal_is_dead_lettered_at_once(monkeypatch, caplog):
    make_user("mike", "mike@example.org")
    refusal = smtplib.SMTPRecipientsRefused({"mike@example.org": (550, b"no such mailbox")})
    monkeypatch.setattr(password_reset, "send_templated_email", failing_with(refusal))
    message = reset_message()
    result = run(message)
    assert result.state == "FAILURE"
    [letter] = DeadLetter.objects.all()
    assert letter.reason == "permanent_failure"
    assert letter.attempts == 1
    assert letter.task == "handlers.send_password_reset_email"
    assert str(letter.event_id) == message["id"]
    assert letter.message == message
    assert "550" in letter.error and "mike@example.org" not in letter.error
    assert "will retry" not in caplog.text


def test_a_transient_failure_is_dead_lettered_when_retries_run_out(monkeypatch):
    make_user("mike", "mike@example.org")
    monkeypatch.setattr(
        password_reset, "send_templated_email", failing_with(smtplib.SMTPServerDisconnected())
    )
    run(reset_message())
    [letter] = DeadLetter.objects.all()
    assert letter.reason == "retries_exhausted"
    assert letter.attempts == MAX_RETRIES + 1


def test_a_malformed_event_is_dead_lettered_not_dropped():
    message = reset_message()
    message["version"] = 99
    run(message)
    [letter] = DeadLetter.objects.all()
    assert letter.reason == "malformed"


def test_replay_sends_pending_dead_letters_again(monkeypatch, fake_redis, capsys):
    make_user("mike", "mike@example.org")
    refusal = smtplib.SMTPRecipientsRefused({"mike@example.org": (550, b"no such mailbox")})
    monkeypatch.setattr(password_reset, "send_templated_email", failing_with(refusal))
    message = reset_message()
    run(message)
    call_command("replay_dead_letters")
    listing = capsys.readouterr().out
    assert "handlers.send_password_reset_email" in listing and "pending" in listing

    call_command("replay_dead_letters", "--all")
    assert "replayed 1 dead letter(s)" in capsys.readouterr().out
    [queued] = queued_messages(fake_redis, "email")
    assert queued["args"] == message
    assert queued["headers"]["task"] == "handlers.send_password_reset_email"
    letter = DeadLetter.objects.get()
    assert letter.replayed_at is not None and letter.replay_count == 1

    call_command("replay_dead_letters", "--all")  # nothing pending any more
    assert len(queued_messages(fake_redis, "email")) == 1
    call_command("replay_dead_letters", str(letter.pk))  # by id: again, on purpose
    assert len(queued_messages(fake_redis, "email")) == 2


def test_dead_letters_are_visible_in_the_admin(admin_client):
    run({"id": "not-a-uuid", "type": "password.reset_requested"})
    response = admin_client.get("/admin/shared/deadletter/")
    assert response.status_code == 200
    assert b"malformed" in response.content
