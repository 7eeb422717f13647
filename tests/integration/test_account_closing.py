"""Closing an account through the admin API, end to end: refused at once by the API, then its
stored sessions removed by a real worker."""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from shared.models import RefreshToken
from shared.operators.api_keys import create_api_key
from tests.api_client import Device
from tests.factories import PASSWORD, make_user
from tests.waiting import eventually


@pytest.fixture
def alice(live_stack):
    return make_user()


def test_a_deactivated_user_is_refused_at_once_then_the_worker_removes_their_sessions(alice):
    devices = [Device(f"device-{i}") for i in range(2)]
    for device in devices:
        assert device.login(PASSWORD, username="alice").status_code == 200
    browser = Client()
    signed_in = browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert Session.objects.exists()  # so that its going below is the worker's doing
    admin = Client(HTTP_AUTHORIZATION=f"Api-Key {create_api_key('crm')}")

    response = admin.patch(f"/api/admin/users/{alice.pk}/", data=json.dumps({"is_active": False}),
                           content_type="application/json")  # fmt: skip

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    for device in devices:
        assert device.sessions().status_code == 401
    assert browser.get("/accounts/password-change/").status_code == 302  # to the login page
    assert eventually(lambda: not RefreshToken.objects.filter(user=alice).exists())
    assert eventually(lambda: not Session.objects.exists())
