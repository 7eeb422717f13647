"""An event written in a transaction outlives Redis: its outbox row stays until every handler
has finished with it, and the relay sends it again to the handlers that have not once
OUTBOX_REDELIVER_AFTER has passed (Redis restarted empty, or failed over to a replica that
never got it). Redis is fakeredis here; tests/integration/test_faults.py restarts a real one
under real workers."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from shared.messaging.outbox import settle_outbox
from shared.models import DeadLetter, OutboxEvent, ProcessedEvent
from tests.api_client import Device
from tests.conftest import queued_messages
from tests.factories import NEW_PASSWORD, PASSWORD, make_user

pytestmark = [pytest.mark.django_db(transaction=True)]

HANDLERS = {
    "handlers.revoke_user_sessions": "security",
    "handlers.send_password_changed_notice": "email",
    "handlers.send_password_changed_webhooks": "webhooks",
}


def change_password() -> OutboxEvent:
    """A real password change through the API: its password.changed event is in Redis, and
    its outbox row waits for the three handlers."""
    make_user()
    device = Device()
    device.login(PASSWORD, email="alice@example.com")
    assert device.change_password(PASSWORD, NEW_PASSWORD).status_code == 200
    [row] = OutboxEvent.objects.filter(type="password.changed")
    return row


def handled_by(row: OutboxEvent, *handlers: str) -> None:
    for handler in handlers:
        ProcessedEvent.objects.create(event_id=row.id, handler=handler)


def queued_handlers(fake_redis) -> dict[str, str]:
    """Task name -> queue of every task message waiting in Redis."""
    return {
        message["headers"]["task"]: queue
        for queue in ("email", "security", "webhooks")
        for message in queued_messages(fake_redis, queue)
    }


def overdue(row: OutboxEvent, settings) -> None:
    settings.OUTBOX_REDELIVER_AFTER = 60
    OutboxEvent.objects.filter(id=row.id).update(sent_at=timezone.now() - timedelta(seconds=61))


def test_the_row_stays_after_redis_takes_the_event(fake_redis):
    row = change_password()

    assert row.sent_at is not None
    assert queued_handlers(fake_redis) == HANDLERS


def test_a_row_every_handler_finished_with_is_removed(fake_redis):
    row = change_password()
    handled_by(row, *HANDLERS)

    assert settle_outbox() == (1, 0)
    assert not OutboxEvent.objects.exists()


def test_a_row_some_handler_has_not_finished_stays_until_it_has(fake_redis):
    row = change_password()
    handled_by(row, "handlers.revoke_user_sessions", "handlers.send_password_changed_notice")

    assert settle_outbox() == (0, 0)
    assert OutboxEvent.objects.filter(id=row.id).exists()


def test_a_handler_that_gave_up_counts_as_finished(fake_redis):
    row = change_password()
    handled_by(row, "handlers.revoke_user_sessions", "handlers.send_password_changed_notice")
    DeadLetter.objects.create(
        event_id=row.id, event_type=row.type, task="handlers.send_password_changed_webhooks",
        message=row.message, reason=DeadLetter.Reason.RETRIES_EXHAUSTED, error="timeout",
    )  # fmt: skip

    assert settle_outbox() == (1, 0)


def test_an_event_redis_lost_is_sent_again_to_the_handlers_that_never_ran(fake_redis, settings):
    row = change_password()
    handled_by(row, "handlers.revoke_user_sessions")
    fake_redis.flushall()  # Redis restarted without persistence
    overdue(row, settings)

    assert settle_outbox() == (0, 1)

    assert queued_handlers(fake_redis) == {
        "handlers.send_password_changed_notice": "email",
        "handlers.send_password_changed_webhooks": "webhooks",
    }
    [again] = queued_messages(fake_redis, "email")
    assert again["args"]["id"] == str(row.id)  # the same event: handlers deduplicate on it
    assert again["headers"]["id"] == f"{row.id}.send_password_changed_notice"
    row.refresh_from_db()
    assert row.sent_at > timezone.now() - timedelta(seconds=5)  # the grace period starts again
    assert row.attempts == 2


def test_nothing_is_sent_again_within_the_grace_period(fake_redis, settings):
    row = change_password()
    fake_redis.flushall()
    settings.OUTBOX_REDELIVER_AFTER = 60

    assert settle_outbox() == (0, 0)
    assert queued_handlers(fake_redis) == {}
    assert OutboxEvent.objects.filter(id=row.id).exists()


def test_redis_down_when_sending_again_loses_nothing(fake_redis, settings):
    row = change_password()
    fake_redis.flushall()
    overdue(row, settings)
    fake_redis.server.connected = False

    assert settle_outbox() == (0, 0)

    row.refresh_from_db()
    assert row.last_error
    fake_redis.server.connected = True
    assert settle_outbox() == (0, 1)
    assert set(queued_handlers(fake_redis)) == set(HANDLERS)


def test_the_relay_command_removes_finished_rows_and_resends_lost_ones(fake_redis, settings):
    row = change_password()
    fake_redis.flushall()
    overdue(row, settings)

    call_command("relay_outbox")

    assert set(queued_handlers(fake_redis)) == set(HANDLERS)
    handled_by(row, *HANDLERS)
    call_command("relay_outbox")
    assert not OutboxEvent.objects.exists()


def test_the_backlog_and_its_age_are_visible(fake_redis, settings, capsys):
    row = change_password()
    overdue(row, settings)
    fake_redis.server.connected = False
    Device().post("password/reset/", {"email": "someone@example.com"})  # kept, not sent

    call_command("outbox_status", "--json")
    status = json.loads(capsys.readouterr().out)

    assert status["not_sent"]["count"] == 1
    assert status["awaiting_handlers"]["count"] == 1
    assert status["overdue"]["count"] == 1
    assert status["awaiting_handlers"]["oldest_age_seconds"] >= 0
    call_command("outbox_status")
    assert "| awaiting handlers | 1 |" in capsys.readouterr().out
