"""Webhooks end to end: a real worker on the ``webhooks`` queue POSTs signed events to a real
HTTP receiver, which verifies them with the standardwebhooks library.

The session's worker serves ``email`` and ``security``; this module's own worker serves
``webhooks`` only, with threads, as the Procfile's ``worker-webhooks`` does."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from shared.models import RefreshToken
from shared.operators.api_keys import create_api_key
from tests.api_client import Device
from tests.factories import NEW_PASSWORD, PASSWORD, make_user
from tests.waiting import eventually


@pytest.fixture
def subscribed(live_stack, webhook_worker, receiver, settings):
    """The receiver subscribed to password.changed through the admin API."""
    settings.DEBUG = True  # this process checks the URL too: http:// to loopback
    key = create_api_key("crm")
    response = Client().post(
        "/api/admin/webhooks/",
        data=json.dumps({"url": receiver.url, "events": ["password.changed"]}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    receiver.secret = response.json()["secret"]
    return response.json()


@pytest.fixture
def alice(live_stack):
    return make_user()


def change_password(device: Device) -> None:
    device.login(PASSWORD, username="alice")
    assert device.change_password(PASSWORD, NEW_PASSWORD).status_code == 200


def test_a_password_change_reaches_the_receiver_signed_within_seconds(
    subscribed, receiver, alice, webhook_worker
):
    change_password(Device())

    assert eventually(lambda: receiver.verified, timeout=5)
    assert webhook_worker.wait_until_idle()  # a second delivery, if any, would be in by now
    [delivery] = receiver.deliveries
    assert delivery.payload["type"] == "password.changed"
    assert delivery.payload["data"] == {"user_id": alice.pk, "reason": "change"}
    assert delivery.headers["webhook-id"].endswith(f".{subscribed['id']}")
    assert b"198.51.100.7" not in delivery.body and b"test-device" not in delivery.body


def test_a_receiver_that_fails_gets_the_event_once_it_recovers(
    subscribed, receiver, alice, webhook_worker
):
    receiver.answers = [500, 503]

    change_password(Device())

    assert eventually(lambda: receiver.verified, timeout=15)
    assert webhook_worker.wait_until_idle()  # no try after the 200
    assert [d.status for d in receiver.deliveries] == [500, 503, 200]
    # One delivery, tried three times: one id, so the receiver can tell it is a repeat.
    assert len({d.headers["webhook-id"] for d in receiver.deliveries}) == 1


def test_a_receiver_that_never_answers_delays_neither_the_email_nor_the_revocation(
    subscribed, receiver, alice, mailbox, live_stack
):
    receiver.delay = 30
    other = Device("other-device")
    other.login(PASSWORD, username="alice")
    other_family = next(s["id"] for s in other.sessions().json() if s["current"])
    started = time.monotonic()

    change_password(Device())

    [(envelope, notice)] = mailbox.wait_for(1, timeout=5)
    assert notice["Subject"] == "Account security: Your password was changed"
    assert other.sessions().status_code == 401
    assert eventually(
        lambda: not RefreshToken.objects.filter(family=other_family).exists(), timeout=5
    )
    assert time.monotonic() - started < 5
    assert live_stack.wait_until_idle()  # the email worker is done: one notice, to Alice
    assert [env.rcpt_tos for env, _ in mailbox.messages] == [["alice@example.com"]]
    # The delivery was under way all along: the receiver holds it, and answers nothing.
    assert eventually(lambda: receiver.started >= 1, timeout=5)
    assert receiver.verified == []
