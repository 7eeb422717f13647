"""A forced reset end to end: the API queues it, a real worker runs its batches, every user
is mailed through a real SMTP server, and the progress endpoint reports it finished."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from shared.operators.api_keys import create_api_key
from tests.api_client import Device
from tests.factories import PASSWORD, make_user
from tests.waiting import eventually

WAIT = 30


@pytest.fixture
def team(live_stack):
    return [make_user(f"user{i}", f"user{i}@example.com") for i in range(4)]


def test_a_forced_reset_mails_each_user_and_reports_finished(team, mailbox, live_stack):
    admin = Client(HTTP_AUTHORIZATION=f"Api-Key {create_api_key('crm')}")
    devices = []
    for user in team:
        device = Device()
        assert device.login(PASSWORD, email=user.email).status_code == 200
        devices.append(device)

    response = admin.post(
        "/api/admin/forced-resets/",
        data=json.dumps({"user_ids": [user.pk for user in team[:3]]}),
        content_type="application/json",
    )
    assert response.status_code == 202
    progress_path = f"/api/admin/forced-resets/{response.json()['id']}/"

    mailbox.wait_for(3, timeout=WAIT)
    assert eventually(lambda: admin.get(progress_path).json()["state"] == "finished", timeout=WAIT)
    # The worker is done: a message to the fourth user, or a second to anyone, would be in.
    assert live_stack.wait_until_idle()
    received = mailbox.messages
    assert sorted(rcpt for envelope, _ in received for rcpt in envelope.rcpt_tos) == [
        "user0@example.com", "user1@example.com", "user2@example.com",
    ]  # fmt: skip
    assert {message["Subject"] for _, message in received} == {
        "Account security: Choose a new password for your account"
    }
    progress = admin.get(progress_path).json()
    assert (progress["total"], progress["done"], progress["failed"]) == (3, 3, 0)
    for device in devices[:3]:
        assert device.sessions().status_code == 401
    assert devices[3].sessions().status_code == 200
