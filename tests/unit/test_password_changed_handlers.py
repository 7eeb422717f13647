"""The workers' reactions to password.changed (handlers run directly)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import mail
from django.utils import timezone

from shared.events import PasswordChangedV1, make_event
from shared.models import ProcessedEvent, RefreshToken, UserSession
from tests.factories import make_user
from workers.handlers.password_changed import revoke_user_sessions, send_password_changed_notice

pytestmark = pytest.mark.django_db


def whitelist(user, created_at, family=None):
    return RefreshToken.objects.create(
        jti=uuid.uuid4().hex, family=family or uuid.uuid4(), user=user, created_at=created_at,
        last_used_at=created_at, expires_at=created_at + timedelta(days=14),
    )  # fmt: skip


def browser_session(user, created_at):
    store = SessionStore()
    store.create()
    UserSession.objects.create(user=user, session_key=store.session_key, created_at=created_at)
    return store.session_key


def changed(user, **fields):
    payload = PasswordChangedV1(user_id=user.pk, changed_at=timezone.now(), **fields)
    return make_event(payload), payload


def test_after_a_change_every_session_but_the_callers_is_deleted():
    alice, bob = make_user(), make_user("bob", "bob@example.com")
    before = timezone.now() - timedelta(minutes=5)
    kept = whitelist(alice, before)
    whitelist(alice, before)
    whitelist(alice, before)
    bobs = whitelist(bob, before)
    keep_key, other_key = browser_session(alice, before), browser_session(alice, before)
    bob_key = browser_session(bob, before)

    event, payload = changed(alice, reason="change", keep_token_family=str(kept.family),
                             keep_session_key=keep_key)  # fmt: skip
    revoke_user_sessions(event, payload)

    assert list(RefreshToken.objects.filter(user=alice)) == [kept]
    assert RefreshToken.objects.filter(pk=bobs.pk).exists()
    assert set(Session.objects.values_list("session_key", flat=True)) == {keep_key, bob_key}
    assert not UserSession.objects.filter(session_key=other_key).exists()


def test_after_a_reset_every_session_is_deleted():
    alice = make_user()
    before = timezone.now() - timedelta(minutes=5)
    for _ in range(3):
        whitelist(alice, before)
        browser_session(alice, before)
    event, payload = changed(alice, reason="reset")
    revoke_user_sessions(event, payload)
    assert not RefreshToken.objects.filter(user=alice).exists()
    assert not Session.objects.exists()


def test_sessions_begun_after_the_change_survive_the_purge():
    alice = make_user()
    event, payload = changed(alice, reason="reset")
    later = payload.changed_at + timedelta(seconds=1)
    fresh = whitelist(alice, later)
    fresh_key = browser_session(alice, later)
    revoke_user_sessions(event, payload)
    assert RefreshToken.objects.filter(pk=fresh.pk).exists()
    assert Session.objects.filter(session_key=fresh_key).exists()


def test_the_purge_reads_only_that_users_rows(django_assert_max_num_queries):
    alice = make_user()
    for i in range(20):
        other = make_user(f"user{i}", f"user{i}@example.com")
        whitelist(other, timezone.now())
        browser_session(other, timezone.now())
    event, payload = changed(alice, reason="reset")
    with django_assert_max_num_queries(4) as queries:
        revoke_user_sessions(event, payload)
    assert all(str(alice.pk) in q["sql"] or "IN" in q["sql"] for q in queries.captured_queries)


def test_the_notice_tells_when_from_where_and_how_to_react(settings):
    settings.PUBLIC_BASE_URL = "https://accounts.example.org"
    alice = make_user(email="Alice@Example.org")
    event, payload = changed(alice, reason="change", ip="203.0.113.5",
                             user_agent="Firefox on Linux")  # fmt: skip
    send_password_changed_notice(event, payload)
    [message] = mail.outbox
    assert message.to == ["Alice@example.org"]
    assert message.subject == "Your password was changed"
    when = payload.changed_at.strftime("%Y-%m-%d %H:%M")
    reset_page = "https://accounts.example.org/accounts/password-reset/"
    for expected in ("203.0.113.5", "Firefox on Linux", when, reset_page):
        assert expected in message.body
    assert "https://accounts.example.org/accounts/password-reset/" in message.alternatives[0][0]


def test_a_redelivered_event_sends_one_notice():
    alice = make_user()
    message = changed(alice, reason="change")[0].to_message()
    task = send_password_changed_notice.task
    task.apply(args=[message])
    task.apply(args=[message])
    assert len(mail.outbox) == 1
    assert (
        ProcessedEvent.objects.filter(handler="handlers.send_password_changed_notice").count() == 1
    )
