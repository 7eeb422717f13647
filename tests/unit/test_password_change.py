"""Changing a password: the old one is required, other sessions end at once, the caller's
continues, and the password and its event are committed together."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from shared.models import OutboxEvent
from tests.api_client import Device
from tests.conftest import queued_messages, set_rates
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link
from tests.unit.error_bodies import field_errors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

# What a token issued before the change gets: a 401 saying why, in a code a client can test.
SESSION_ENDED_BY_CHANGE = {"detail": "This session has ended.", "code": "password_changed"}


def signed_in(*names):
    devices = [Device(name) for name in names]
    for device in devices:
        assert device.login(PASSWORD, username="alice").status_code == 200
    return devices


def test_a_change_ends_every_other_session_at_once_and_keeps_the_callers(alice):
    a, b = signed_in("device-a", "device-b")
    b_access, b_refresh, a_old_access = b.access, b.refresh, a.access
    response = a.change_password(PASSWORD, NEW_PASSWORD)
    assert response.status_code == 200
    assert set(response.json()) == {"detail", "access", "refresh"}
    # No worker has run: refusal is immediate, from the password fingerprint.
    for refused in (b.sessions(b_access), a.sessions(a_old_access)):
        assert refused.status_code == 401
        assert refused.json() == SESSION_ENDED_BY_CHANGE
    assert b.refresh_tokens(b_refresh).status_code == 401
    # The caller's fresh pair works, and its session is the same one.
    listing = a.sessions().json()
    assert [s["current"] for s in listing if s["current"]] == [True]
    assert a.refresh_tokens().status_code == 200


def test_the_callers_session_shows_where_and_when_the_change_came_from(alice):
    [a] = signed_in("phone")
    [at_login] = a.sessions().json()
    a.client.defaults.update(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="phone, later")
    assert a.change_password(PASSWORD, NEW_PASSWORD).status_code == 200
    [session] = a.sessions().json()
    assert (session["ip"], session["user_agent"]) == ("203.0.113.9", "phone, later")
    last_used = datetime.fromisoformat(session["last_used"])
    assert last_used > datetime.fromisoformat(at_login["last_used"])


def test_the_old_password_is_required(alice):
    [a] = signed_in("a")
    response = a.change_password("not-my-password", NEW_PASSWORD)
    assert "old_password" in field_errors(response)
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)


def test_the_new_password_must_pass_the_rules(alice):
    [a] = signed_in("a")
    response = a.change_password(PASSWORD, "short")
    assert "too short" in field_errors(response)["new_password1"][0]
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)


def test_a_change_needs_a_bearer_token(alice, fake_redis):
    body = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = Device().post("password/change/", body)
    assert response.status_code == 401
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)
    assert queued_messages(fake_redis, "security") == []


def test_changes_are_throttled_per_user(settings, alice):
    set_rates(settings, change_user="2/min")
    a, b = signed_in("a", "b")
    assert a.change_password("wrong-1", NEW_PASSWORD).status_code == 400
    assert b.change_password("wrong-2", NEW_PASSWORD).status_code == 400
    # Throttled, even the right old password changes nothing.
    assert a.change_password(PASSWORD, NEW_PASSWORD).status_code == 429
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)


def test_the_change_publishes_password_changed_for_both_queues(alice, fake_redis):
    [a] = signed_in("a")
    a.client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"  # the notice is written in it
    a.change_password(PASSWORD, NEW_PASSWORD)
    [security] = queued_messages(fake_redis, "security")
    [email] = queued_messages(fake_redis, "email")
    assert security["headers"]["task"] == "handlers.revoke_user_sessions"
    assert email["headers"]["task"] == "handlers.send_password_changed_notice"
    payload = security["args"]["payload"]
    assert payload["reason"] == "change"
    assert payload["user_id"] == alice.pk
    assert payload["keep_token_family"] == a.sessions().json()[0]["id"]
    assert payload["user_agent"] == "a"
    assert payload["ip"] == "198.51.100.7"
    assert payload["language"] == "fr"


def test_no_password_is_saved_without_its_event(alice, monkeypatch):
    [a] = signed_in("a")

    def broken_outbox(*args, **kwargs):
        raise RuntimeError("the outbox table is unwritable")

    monkeypatch.setattr(OutboxEvent.objects, "create", broken_outbox)
    with pytest.raises(RuntimeError):
        a.change_password(PASSWORD, NEW_PASSWORD)
    assert get_user_model().objects.get(pk=alice.pk).check_password(PASSWORD)
    assert a.sessions().status_code == 200  # nothing changed, the session lives on


def test_with_redis_down_the_event_waits_in_the_outbox(alice, fake_redis):
    [a] = signed_in("a")
    fake_redis.server.connected = False
    assert a.change_password(PASSWORD, NEW_PASSWORD).status_code == 200
    [row] = OutboxEvent.objects.all()
    assert row.type == "password.changed"
    assert row.message["payload"]["reason"] == "change"


def test_a_completed_reset_ends_every_session_at_once(alice, client):
    import json

    a, b = signed_in("a", "b")
    alice.refresh_from_db()  # logging in changed last_login, which reset tokens cover
    body = {**issue_link(alice), "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post("/api/auth/password/reset/confirm/", data=json.dumps(body),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200
    for device in (a, b):
        assert device.sessions().status_code == 401
        assert device.refresh_tokens().status_code == 401


def test_the_html_change_page_ends_other_browser_sessions_and_keeps_this_one(alice):
    here, there = Client(), Client()
    for browser in (here, there):
        browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert there.get("/accounts/password-change/").status_code == 200
    response = here.post("/accounts/password-change/", {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD,
    })  # fmt: skip
    assert response.status_code == 302
    assert get_user_model().objects.get(pk=alice.pk).check_password(NEW_PASSWORD)
    assert here.get("/accounts/password-change/").status_code == 200
    signed_out = there.get("/accounts/password-change/")
    assert signed_out.status_code == 302
    assert signed_out["Location"].startswith("/accounts/login/")


def test_a_browser_that_changed_its_password_can_still_be_signed_out_remotely(alice):
    """The change gives this browser a new session key; the index of Alice's sessions follows
    it, so the workers (a later reset, a locked account) still end this session."""
    from django.utils import timezone

    from shared.accounts.browser_sessions import end_browser_sessions

    here = Client()
    here.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    here.post("/accounts/password-change/", {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD,
    })  # fmt: skip
    assert here.get("/accounts/password-change/").status_code == 200

    assert end_browser_sessions(alice.pk, before=timezone.now()) == 1  # one browser, one session
    signed_out = here.get("/accounts/password-change/")
    assert signed_out.status_code == 302
    assert signed_out["Location"].startswith("/accounts/login/")
