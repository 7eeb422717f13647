"""A reset request travels API → Redis → Celery worker → SMTP, with real processes."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model

RESET_URL = "/api/auth/password/reset/"
DELIVERY_TIMEOUT = 20


def request_reset(client, email, **extra):
    return client.post(
        RESET_URL, data=json.dumps({"email": email}), content_type="application/json", **extra
    )


def reset_link(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/accounts/reset/\S+/", text)
    return link


@pytest.fixture
def carol(live_stack):
    return get_user_model().objects.create_user(
        "carol", "Carol@Example.com", "an-old-long-passphrase"
    )


def test_known_user_receives_one_message_at_the_stored_address_and_its_link_opens_the_reset_page(
    client, mailbox, carol, public_base_url, live_stack
):
    response = request_reset(
        client, "CAROL@example.com", HTTP_HOST="localhost", HTTP_X_FORWARDED_HOST="evil.example.net"
    )
    assert response.status_code == 202

    mailbox.wait_for(1, timeout=DELIVERY_TIMEOUT)
    assert live_stack.wait_until_idle()  # a second message, if any, would be in by now
    [(envelope, message)] = mailbox.messages
    assert envelope.rcpt_tos == ["Carol@example.com"]
    assert message["To"] == "Carol@example.com"
    assert message.get_body(preferencelist=("html",)) is not None

    link = reset_link(message)
    assert link.startswith(public_base_url + "/accounts/reset/")
    assert "evil.example.net" not in message.as_string()

    opened = client.get(urlsplit(link).path)
    assert opened.status_code == 302
    assert opened["Location"].endswith("/set-password/")
    form = client.get(opened["Location"])
    assert form.status_code == 200
    assert b'name="new_password1"' in form.content


def test_unknown_address_gets_the_same_202_bytes_and_no_message(client, mailbox, carol, live_stack):
    unknown = request_reset(client, "nobody@example.com")
    known = request_reset(client, "carol@example.com")
    assert unknown.status_code == known.status_code == 202
    assert unknown.content == known.content

    # Both events handled (the worker has nothing left), instead of a second's wait for more.
    assert live_stack.wait_until_idle()
    assert [env.rcpt_tos for env, _ in mailbox.messages] == [["Carol@example.com"]]


def test_two_accounts_sharing_an_address_each_get_their_own_link(client, mailbox, live_stack):
    users = get_user_model().objects
    users.create_user("dan", "dan@example.com", "an-old-long-passphrase")
    users.create_user("dan2", "DAN@example.com", "an-old-long-passphrase")
    assert request_reset(client, "dan@example.com").status_code == 202
    mailbox.wait_for(2, timeout=DELIVERY_TIMEOUT)
    assert live_stack.wait_until_idle()  # and no third message follows
    messages = mailbox.messages
    assert sorted(env.rcpt_tos[0] for env, _ in messages) == ["DAN@example.com", "dan@example.com"]
    assert len({reset_link(m) for _, m in messages}) == 2
