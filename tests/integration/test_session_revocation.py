"""Revocation end to end: immediate in the API, then cleaned up by a real worker, with the
notice delivered to a real SMTP server."""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from shared.models import RefreshToken
from tests.api_client import Device
from tests.factories import NEW_PASSWORD, PASSWORD, issue_link, make_user
from tests.waiting import eventually

WAIT = 20


@pytest.fixture
def alice(live_stack):
    return make_user()


def browser_login():
    browser = Client()
    assert (
        browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    return browser


def test_a_change_on_one_device_ends_the_others_at_once_then_the_worker_cleans_up(
    alice, mailbox, live_stack
):
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
    a, b = Device(firefox), Device("device-b")
    assert a.login(PASSWORD, username="alice").status_code == 200
    assert b.login(PASSWORD, username="alice").status_code == 200
    browser = browser_login()
    b_access, b_refresh = b.access, b.refresh

    assert a.change_password(PASSWORD, NEW_PASSWORD).status_code == 200
    assert b.sessions(b_access).status_code == 401
    assert b.refresh_tokens(b_refresh).status_code == 401
    assert a.sessions().status_code == 200

    mailbox.wait_for(1, timeout=WAIT)
    assert live_stack.wait_until_idle()  # one notice: a second would be in by now
    [(envelope, notice)] = mailbox.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert notice["Subject"] == "Account security: Your password was changed"
    assert "Firefox 121 on Linux" in notice.get_body(preferencelist=("plain",)).get_content()

    a_family = a.sessions().json()[0]["id"]
    assert eventually(lambda: list(RefreshToken.objects.values_list("family", flat=True)) != []
                      and {str(f) for f in RefreshToken.objects.values_list("family", flat=True)}
                      == {a_family})  # fmt: skip
    assert eventually(lambda: not Session.objects.exists())
    assert browser.get("/accounts/password-change/").status_code == 302
    assert a.refresh_tokens().status_code == 200


def test_a_completed_reset_ends_every_device_and_the_worker_removes_them_all(
    alice, mailbox, client, live_stack
):
    devices = [Device(f"device-{i}") for i in range(3)]
    for device in devices:
        assert device.login(PASSWORD, username="alice").status_code == 200  # signed in first
    browser_login()
    alice.refresh_from_db()

    body = {**issue_link(alice), "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post("/api/auth/password/reset/confirm/", data=json.dumps(body),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 200
    for device in devices:
        assert device.sessions().status_code == 401
        assert device.refresh_tokens().status_code == 401

    mailbox.wait_for(1, timeout=WAIT)
    assert live_stack.wait_until_idle()  # one notice: a second would be in by now
    [(envelope, notice)] = mailbox.messages
    assert envelope.rcpt_tos == ["alice@example.com"]
    assert notice["Subject"] == "Account security: Your password was changed"
    # Every notice says "reset your password now"; this sentence is the reset's own.
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert "The password of your account was just reset with a link sent to this address." in text
    assert eventually(lambda: not RefreshToken.objects.filter(user=alice).exists())
    assert eventually(lambda: not Session.objects.exists())
    assert Device().login(NEW_PASSWORD, username="alice").status_code == 200
