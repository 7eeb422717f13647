"""JWT sessions on a whitelist: login, rotation with reuse detection, logout, session list."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

import jwt
import pytest
from django.core.management import call_command
from django.utils import timezone

from shared.models import RefreshToken
from tests.api_client import Device
from tests.conftest import set_rates
from tests.factories import PASSWORD, make_user
from tests.unit.error_bodies import field_errors

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]

BAD_CREDENTIALS = {
    "detail": "Unable to log in with the provided credentials.",
    "code": "invalid_credentials",
}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("who", [{"username": "alice"}, {"email": "ALICE@example.com"}])
def test_login_by_username_or_email_gives_a_token_pair(alice, who):
    device = Device()
    response = device.login(PASSWORD, **who)
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert device.sessions().status_code == 200
    assert RefreshToken.objects.filter(user=alice).count() == 1


@pytest.mark.parametrize(
    "who",
    [{"username": "alice", "password": "wrong"}, {"email": "nobody@example.com"},
     {"username": "nobody"}],
    ids=["wrong-password", "unknown-email", "unknown-username"],
)  # fmt: skip
def test_bad_credentials_get_one_generic_401(alice, who):
    body = {"password": PASSWORD, **who}
    response = Device().post("login/", body)
    assert response.status_code == 401
    assert response.json() == BAD_CREDENTIALS


@pytest.mark.parametrize(
    "who",
    [{"username": "alice", "email": "a@example.com"},
     {"username": "alice", "email": "alice@example.com"}, {}],
    ids=["both", "both-right", "neither"],
)  # fmt: skip
def test_login_needs_exactly_one_of_email_and_username(alice, who):
    response = Device().post("login/", {**who, "password": PASSWORD})
    assert field_errors(response) == {"non_field_errors": ["Give either an email or a username."]}
    assert not RefreshToken.objects.exists()  # no session begun


def test_login_is_throttled_per_ip(settings, alice):
    set_rates(settings, login_ip="2/min")
    device = Device()
    statuses = [device.login("wrong", username="alice").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_refresh_rotates_the_pair_and_keeps_the_session(alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    first = device.refresh
    response = device.refresh_tokens()
    assert response.status_code == 200
    assert device.refresh != first
    assert device.sessions().status_code == 200
    assert RefreshToken.objects.filter(user=alice).count() == 1


def test_the_session_list_shows_where_and_when_a_session_was_last_refreshed(alice):
    phone = Device("phone", "198.51.100.1")
    phone.login(PASSWORD, username="alice")
    [at_login] = phone.sessions().json()
    phone.client.defaults.update(REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="phone, updated")
    assert phone.refresh_tokens().status_code == 200
    [session] = phone.sessions().json()
    assert (session["ip"], session["user_agent"]) == ("203.0.113.9", "phone, updated")
    assert when(session["last_used"]) > when(at_login["last_used"])
    assert (session["id"], session["created"]) == (at_login["id"], at_login["created"])


def test_a_refresh_reads_the_user_and_swaps_the_token_nothing_more(
    alice, django_assert_num_queries
):
    device = Device()
    device.login(PASSWORD, username="alice")
    with django_assert_num_queries(2):
        assert device.refresh_tokens().status_code == 200


def test_a_reused_refresh_token_ends_the_whole_session(alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    stolen = device.refresh
    device.refresh_tokens()  # the owner rotates
    thief = Device()
    reused = thief.refresh_tokens(stolen)
    assert reused.status_code == 401
    # The owner's current refresh token dies with the family.
    assert device.refresh_tokens().status_code == 401
    assert not RefreshToken.objects.filter(user=alice).exists()


def test_a_reused_refresh_token_ends_no_other_session_of_the_user(alice):
    device, laptop = Device("phone"), Device("laptop")
    device.login(PASSWORD, username="alice")
    laptop.login(PASSWORD, username="alice")
    stolen = device.refresh
    device.refresh_tokens()
    assert Device().refresh_tokens(stolen).status_code == 401
    assert [s["user_agent"] for s in laptop.sessions().json()] == ["laptop"]
    assert laptop.refresh_tokens().status_code == 200


def test_a_thief_who_refreshes_first_loses_the_session_when_the_owner_refreshes(alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    thief = Device()
    assert thief.refresh_tokens(device.refresh).status_code == 200
    assert device.refresh_tokens().status_code == 401  # the owner's copy is now a reuse
    assert thief.refresh_tokens().status_code == 401


def test_logout_ends_the_session(alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    response = device.post("logout/", {"refresh": device.refresh})
    assert response.status_code == 200
    assert device.refresh_tokens().status_code == 401
    assert device.post("logout/", {"refresh": device.refresh}).status_code == 401


def test_logout_takes_only_the_sessions_current_refresh_token(alice):
    """A refresh token swapped out by a refresh logs nothing out (at the refresh endpoint it
    would count as a reuse and end the session; logout only says it has ended)."""
    device = Device()
    device.login(PASSWORD, username="alice")
    old = device.refresh
    device.refresh_tokens()
    response = device.post("logout/", {"refresh": old})
    assert response.status_code == 401
    assert response.json() == {
        "detail": "This session has ended. Log in again.",
        "code": "token_not_valid",
    }
    assert device.refresh_tokens().status_code == 200


@pytest.mark.parametrize("refresh", ["garbage", "a.b.c", ""])
def test_malformed_refresh_tokens_are_a_401_or_400_never_a_500(alice, refresh):
    for path in ("token/refresh/", "logout/"):
        assert Device().post(path, {"refresh": refresh}).status_code in {400, 401}


def test_an_access_token_is_not_a_refresh_token(alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    assert device.refresh_tokens(device.access).status_code == 401


def test_sessions_lists_each_device_and_marks_the_current_one(alice):
    phone, laptop = Device("phone", "198.51.100.1"), Device("laptop", "198.51.100.2")
    make_user("bob", "bob@example.com")
    Device("bob's phone").login(PASSWORD, username="bob")  # not Alice's: not listed
    Device("old tablet").login(PASSWORD, username="alice")
    RefreshToken.objects.filter(user_agent="old tablet").update(  # expired: not listed
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    phone.login(PASSWORD, username="alice")
    laptop.login(PASSWORD, username="alice")
    listing = phone.sessions().json()
    assert {s["user_agent"]: s["current"] for s in listing} == {"phone": True, "laptop": False}
    assert {s["ip"] for s in listing} == {"198.51.100.1", "198.51.100.2"}
    assert set(listing[0]) == {"id", "created", "last_used", "ip", "user_agent", "current"}


def test_deleting_a_session_ends_it(alice):
    phone, laptop = Device("phone"), Device("laptop")
    phone.login(PASSWORD, username="alice")
    laptop.login(PASSWORD, username="alice")
    laptop_id = next(s["id"] for s in phone.sessions().json() if not s["current"])
    response = phone.client.delete(f"/api/auth/sessions/{laptop_id}/", **phone.bearer())
    assert response.status_code == 204
    assert laptop.refresh_tokens().status_code == 401
    again = phone.client.delete(f"/api/auth/sessions/{laptop_id}/", **phone.bearer())
    assert again.status_code == 404


def test_one_cannot_end_another_users_session(alice):
    bob = make_user("bob", "bob@example.com")
    alices, bobs = Device(), Device()
    alices.login(PASSWORD, username="alice")
    bobs.login(PASSWORD, username="bob")
    bob_session = RefreshToken.objects.get(user=bob).family
    response = alices.client.delete(f"/api/auth/sessions/{bob_session}/", **alices.bearer())
    assert response.status_code == 404
    # The very answer an id of no session gets: Alice learns nothing of Bob's session ids.
    nobodys = alices.client.delete(f"/api/auth/sessions/{uuid.uuid4()}/", **alices.bearer())
    assert response.content == nobodys.content
    assert bobs.refresh_tokens().status_code == 200


def test_session_endpoints_need_a_bearer_token(alice):
    client = Device().client
    assert client.get("/api/auth/sessions/").status_code == 401
    assert client.get("/api/auth/sessions/", HTTP_AUTHORIZATION="Bearer nope").status_code == 401


def test_authentication_costs_one_query_the_user_row(alice, django_assert_num_queries):
    device = Device()
    device.login(PASSWORD, username="alice")
    with django_assert_num_queries(2):  # the user (authentication) and the session list
        assert device.sessions().status_code == 200


def test_purge_expired_tokens_removes_only_expired_rows(alice, capsys):
    device = Device()
    device.login(PASSWORD, username="alice")
    Device().login(PASSWORD, username="alice")
    RefreshToken.objects.filter(pk=RefreshToken.objects.first().pk).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )
    call_command("purge_expired_tokens")
    assert "purged 1 expired" in capsys.readouterr().out
    assert RefreshToken.objects.count() == 1


def test_a_sessions_stored_expiry_is_its_tokens_on_a_server_not_set_to_utc(alice, monkeypatch):
    """The whitelist row ends when the refresh token does, whatever the machine's local time
    zone (a naive local time stored as UTC would move it by the zone's offset)."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        device = Device()
        device.login(PASSWORD, username="alice")
    finally:
        monkeypatch.undo()
        time.tzset()
    exp = jwt.decode(device.refresh, options={"verify_signature": False})["exp"]
    assert RefreshToken.objects.get(user=alice).expires_at.timestamp() == exp
