"""Events a handler gives up on land in the dead-letter table, and operators can replay them."""

from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone

from shared.messaging.celery_app import app
from shared.messaging.events import PasswordResetRequestedV1, make_event
from shared.models import DeadLetter
from tests.conftest import queued_messages
from tests.factories import make_user
from workers.handler_tasks import MAX_RETRIES
from workers.handlers import password_reset
from workers.maintenance import purge_dead_letters

pytestmark = pytest.mark.django_db


def reset_message(email="mike@example.org"):
    return make_event(PasswordResetRequestedV1(email=email)).to_message()


def failing_with(exc):
    def send(*args, **kwargs):
        raise exc

    return send


def run(message):
    return password_reset.send_password_reset_email.task.apply(args=[message])


def dead_letter(age=timedelta(0)) -> DeadLetter:
    """A dead letter of a reset email, as the handler writes one, written ``age`` ago."""
    message = reset_message()
    letter = DeadLetter.objects.create(
        event_id=message["id"], event_type=message["type"], message=message,
        task="handlers.send_password_reset_email", reason="permanent_failure",
        error="SMTPRecipientsRefused codes=[550]",
    )  # fmt: skip
    DeadLetter.objects.filter(pk=letter.pk).update(created_at=timezone.now() - age)
    return letter


def staff(client, username, *permissions):
    """``client`` logged in to the admin as a staff member with just these permissions."""
    user = make_user(username, f"{username}@example.com", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    client.force_login(user)
    return client


def replay_in_admin(client, *letters):
    return client.post(
        "/admin/shared/deadletter/",
        {"action": "replay_selected", "_selected_action": [letter.pk for letter in letters]},
        follow=True,
    )


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
    call_command("replay_dead_letters", "--again", str(letter.pk))  # by id: again, on purpose
    assert len(queued_messages(fake_redis, "email")) == 2


def test_a_letter_replayed_already_is_not_sent_again_by_id_without_again(fake_redis):
    replayed, fresh = dead_letter(), dead_letter()
    call_command("replay_dead_letters", str(replayed.pk))
    with pytest.raises(CommandError, match=rf"\[{replayed.pk}\] were replayed already"):
        call_command("replay_dead_letters", str(fresh.pk), str(replayed.pk))
    # Refused as a whole: not even the fresh one went.
    assert len(queued_messages(fake_redis, "email")) == 1
    assert DeadLetter.objects.get(pk=fresh.pk).replay_count == 0


def test_dead_letters_are_visible_in_the_admin(admin_client):
    run({"id": "not-a-uuid", "type": "password.reset_requested"})
    response = admin_client.get("/admin/shared/deadletter/")
    assert response.status_code == 200
    assert b"malformed" in response.content


def test_replaying_from_the_admin_needs_the_change_permission(client, fake_redis):
    letter = dead_letter()
    viewer = staff(client, "viewer", "view_deadletter")
    assert b"replay_selected" not in viewer.get("/admin/shared/deadletter/").content
    replay_in_admin(viewer, letter)
    assert queued_messages(fake_redis, "email") == []
    assert DeadLetter.objects.get().replay_count == 0

    editor = staff(client, "editor", "view_deadletter", "change_deadletter")
    assert b"replay_selected" in editor.get("/admin/shared/deadletter/").content
    response = replay_in_admin(editor, letter)
    assert b"Replayed 1 event(s)." in response.content
    [queued] = queued_messages(fake_redis, "email")
    assert queued["args"] == letter.message


def test_the_admin_replays_only_letters_not_replayed_yet_and_names_the_others(
    admin_client, fake_redis
):
    replayed, fresh = dead_letter(), dead_letter()
    replay_in_admin(admin_client, replayed)
    response = replay_in_admin(admin_client, replayed, fresh)
    assert b"Replayed 1 event(s)." in response.content
    assert f"Skipped 1 dead letter(s) already replayed (ids {replayed.pk})".encode() in (
        response.content
    )
    sent = [queued["args"]["id"] for queued in queued_messages(fake_redis, "email")]
    assert sorted(sent) == sorted([replayed.message["id"], fresh.message["id"]])
    assert DeadLetter.objects.get(pk=replayed.pk).replay_count == 1


def test_dead_letters_are_purged_after_the_retention_period(settings):
    settings.DEAD_LETTER_RETENTION_DAYS = 10
    kept = [dead_letter(), dead_letter(timedelta(days=9, hours=23))]
    dead_letter(timedelta(days=10, minutes=1))
    dead_letter(timedelta(days=400))
    assert purge_dead_letters.apply().get() == 2
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {letter.pk for letter in kept}


def test_beat_purges_dead_letters_daily():
    [entry] = [e for e in app.conf.beat_schedule.values() if e["task"] == purge_dead_letters.name]
    assert entry["schedule"] == 24 * 3600
