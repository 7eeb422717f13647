"""Sessions end SESSION_MAX_AGE after their login, however busy: JWT sessions (refresh
rotation) and browser sessions alike. Their idle lifetime is apart from this: each refresh
(and a password change) starts it again."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from shared.accounts.browser_sessions import STARTED_AT
from shared.accounts.jwt_tokens import RefreshToken as JWTRefreshToken
from shared.accounts.sessions import FAMILY_CLAIM, PASSWORD_CLAIM, password_fingerprint
from shared.models import RefreshToken
from tests.api_client import Device
from tests.factories import NEW_PASSWORD, PASSWORD, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def purge_expired_tokens_at(moment: int, monkeypatch) -> None:
    """The operator's purge of expired refresh tokens, run as if it were ``moment``."""
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: datetime.fromtimestamp(moment, tz=UTC))
        call_command("purge_expired_tokens")


def token_without_start_claim(user, began: datetime) -> str:
    """A refresh token as made before tokens carried their session's start (``sst``), on the
    whitelist: its session's start is known from its row only."""
    family = uuid.uuid4()
    token = JWTRefreshToken.for_user(user)
    token[FAMILY_CLAIM] = str(family)
    token[PASSWORD_CLAIM] = password_fingerprint(user)
    RefreshToken.objects.create(
        jti=token["jti"], family=family, user=user, created_at=began, last_used_at=began,
        expires_at=timezone.now() + timedelta(days=1),
    )  # fmt: skip
    return str(token)


def test_no_token_of_a_session_expires_after_its_maximum_age(settings, alice):
    settings.SESSION_MAX_AGE = 600  # well under the 14 days of a refresh token's idle life
    device = Device()
    device.login(PASSWORD, username="alice")
    started = claims(device.refresh)["sst"]
    assert device.refresh_tokens().status_code == 200
    for token in (device.access, device.refresh):
        assert claims(token)["exp"] <= started + 600
    assert claims(device.refresh)["sst"] == started  # rotation keeps the session's start


def test_a_session_refreshed_all_along_still_ends_at_its_maximum_age(settings, alice, clock):
    settings.SESSION_MAX_AGE = 3
    device = Device()
    device.login(PASSWORD, username="alice")
    for step in (1, 1, 0.9):  # in use all the time, up to its last moment
        clock.shift(step)
        assert device.refresh_tokens().status_code == 200
    clock.shift(0.1)  # three seconds after the login
    assert device.refresh_tokens().status_code == 401
    assert device.sessions().status_code == 401  # its last access token died with it


def test_a_session_past_a_lowered_maximum_age_ends_at_its_next_refresh(settings, alice, clock):
    device = Device("phone")
    device.login(PASSWORD, username="alice")
    clock.shift(2)
    laptop = Device("laptop")
    laptop.login(PASSWORD, username="alice")
    # An operator shortens the limit to the phone's age exactly: older sessions end too, even
    # when their tokens, made under the longer limit, have not expired.
    settings.SESSION_MAX_AGE = 2
    assert device.refresh_tokens().status_code == 401
    # The phone's session is gone from the list; the laptop's, not refreshed yet, is not.
    assert [s["user_agent"] for s in laptop.sessions().json()] == ["laptop"]
    assert Device().login(PASSWORD, username="alice").status_code == 200


def test_a_token_without_a_start_claim_goes_on_from_its_sessions_login(settings, alice):
    settings.SESSION_MAX_AGE = 3600
    Device().login(PASSWORD, username="alice")  # another of hers, begun now: not its start
    began = timezone.now() - timedelta(minutes=30)
    device = Device()
    assert device.refresh_tokens(token_without_start_claim(alice, began)).status_code == 200
    assert claims(device.refresh)["sst"] == int(began.timestamp())
    assert claims(device.refresh)["exp"] <= int(began.timestamp()) + 3600


def test_a_token_without_a_start_claim_ends_at_the_maximum_age_from_its_login(settings, alice):
    settings.SESSION_MAX_AGE = 3600
    token = token_without_start_claim(alice, timezone.now() - timedelta(seconds=3601))
    assert Device().refresh_tokens(token).status_code == 401
    assert not RefreshToken.objects.filter(user=alice).exists()


def test_each_refresh_gives_the_session_its_idle_lifetime_again(alice, monkeypatch, clock):
    device = Device()
    device.login(PASSWORD, username="alice")
    first_expiry = claims(device.refresh)["exp"]
    clock.shift(1)
    assert device.refresh_tokens().status_code == 200
    assert claims(device.refresh)["exp"] > first_expiry
    # When the login's token expires, the purge leaves the session: it was refreshed since.
    purge_expired_tokens_at(first_expiry, monkeypatch)
    assert device.refresh_tokens().status_code == 200


def test_a_password_change_gives_the_callers_session_its_idle_lifetime_again(
    alice, monkeypatch, clock
):
    device = Device()
    device.login(PASSWORD, username="alice")
    first_expiry = claims(device.refresh)["exp"]
    clock.shift(1)
    assert device.change_password(PASSWORD, NEW_PASSWORD).status_code == 200
    purge_expired_tokens_at(first_expiry, monkeypatch)
    assert device.refresh_tokens().status_code == 200


def test_changing_the_password_keeps_the_callers_session_start(settings, alice, clock):
    settings.SESSION_MAX_AGE = 600
    Device("laptop").login(PASSWORD, username="alice")  # an older session of hers
    clock.shift(1)
    device = Device()
    device.login(PASSWORD, username="alice")
    started = claims(device.refresh)["sst"]
    clock.shift(1)
    assert device.change_password(PASSWORD, "a-brand-new-long-passphrase").status_code == 200
    assert claims(device.refresh)["sst"] == started
    assert claims(device.refresh)["exp"] <= started + 600


def test_a_browser_session_ends_at_its_maximum_age_however_active(settings, db):
    settings.SESSION_MAX_AGE = 3600
    make_user("erin", "erin@example.com")
    browser = Client()
    assert browser.login(username="erin", password=PASSWORD)
    assert browser.get("/accounts/password-change/").status_code == 200

    session = browser.session
    assert time.time() - session[STARTED_AT] < 60  # the login started the clock
    session[STARTED_AT] = time.time() - 3601  # as if it had been in use for an hour
    session.save()
    response = browser.get("/accounts/password-change/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_browser_session_within_its_maximum_age_goes_on(settings, db):
    settings.SESSION_MAX_AGE = 3600
    make_user("erin", "erin@example.com")
    browser = Client()
    browser.login(username="erin", password=PASSWORD)
    session = browser.session
    session[STARTED_AT] = time.time() - 3500
    session.save()
    assert browser.get("/accounts/password-change/").status_code == 200


def test_an_api_login_makes_no_browser_session(alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    assert not device.client.cookies.get("sessionid")
