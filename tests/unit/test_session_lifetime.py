"""Sessions end SESSION_MAX_AGE after their login, however busy: JWT sessions (refresh
rotation) and browser sessions alike. Their idle lifetime is apart from this."""

from __future__ import annotations

import time

import jwt
import pytest
from django.test import Client

from shared.browser_sessions import STARTED_AT
from tests.api_client import Device
from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fake_redis")]


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_no_token_of_a_session_expires_after_its_maximum_age(settings, alice):
    settings.SESSION_MAX_AGE = 600  # well under the 14 days of a refresh token's idle life
    device = Device()
    device.login(PASSWORD, username="alice")
    started = claims(device.refresh)["sst"]
    assert device.refresh_tokens().status_code == 200
    for token in (device.access, device.refresh):
        assert claims(token)["exp"] <= started + 600
    assert claims(device.refresh)["sst"] == started  # rotation keeps the session's start


def test_a_session_refreshed_all_along_still_ends_at_its_maximum_age(settings, alice):
    settings.SESSION_MAX_AGE = 3
    device = Device()
    device.login(PASSWORD, username="alice")
    for _ in range(2):  # in use all the time
        time.sleep(1)
        assert device.refresh_tokens().status_code == 200
    time.sleep(1.5)
    assert device.refresh_tokens().status_code == 401
    assert device.sessions().status_code == 401  # its last access token died with it


def test_a_session_past_a_lowered_maximum_age_ends_at_its_next_refresh(settings, alice):
    device = Device()
    device.login(PASSWORD, username="alice")
    time.sleep(1.1)
    settings.SESSION_MAX_AGE = 1  # an operator shortens the limit: older sessions end too
    assert device.refresh_tokens().status_code == 401
    assert Device().login(PASSWORD, username="alice").status_code == 200


def test_changing_the_password_keeps_the_callers_session_start(settings, alice):
    settings.SESSION_MAX_AGE = 600
    device = Device()
    device.login(PASSWORD, username="alice")
    started = claims(device.refresh)["sst"]
    time.sleep(1.1)
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
