"""POST /api/auth/password/reset/: what a client (or an attacker probing for accounts) sees."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model

from shared.models import OutboxEvent
from tests.conftest import queued_messages

URL = "/api/auth/password/reset/"

# Transactional: a real request runs in autocommit, not inside a test-wide transaction.
pytestmark = pytest.mark.django_db(transaction=True)


def post(client, body, **extra):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def alice(db):
    return get_user_model().objects.create_user("alice", "Alice@Example.com", "a-long-passphrase-1")


def test_known_and_unknown_addresses_get_identical_responses(client, fake_redis, alice):
    known = post(client, {"email": "alice@example.com"})
    unknown = post(client, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert sorted(known.headers.items()) == sorted(unknown.headers.items())


def test_reset_request_does_not_query_the_user_table(
    client, fake_redis, alice, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = post(client, {"email": "alice@example.com"})
    assert response.status_code == 202
    # Not by doing nothing: the event the worker looks the account up from was published.
    [message] = queued_messages(fake_redis, "email")
    assert message["args"]["payload"]["email"] == "alice@example.com"


def test_reset_request_publishes_one_event_on_the_email_queue(client, fake_redis):
    post(
        client,
        {"email": "Someone@Example.com"},
        HTTP_USER_AGENT="pytest-agent",
        HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9",
    )
    [message] = queued_messages(fake_redis, "email")
    event = message["args"]
    assert message["headers"]["task"] == "handlers.send_password_reset_email"
    assert event["type"] == "password.reset_requested"
    assert event["version"] == 1
    assert event["payload"] == {
        "email": "Someone@Example.com",  # as typed: the worker matches it to accounts
        "client": None,
        "ip": "127.0.0.1",
        "user_agent": "pytest-agent",
        "language": "fr",
    }
    assert event["occurred_at"].endswith("Z")
    assert queued_messages(fake_redis, "security") == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-address"},
        {"email": ["a@example.com", "b@example.com"]},
        {"email": 12345},
        {"email": {"address": "a@example.com"}},
        {"email": None},
        {"email": True},
        {"email": "a" * 250 + "@example.com"},
        {},
        ["a@example.com"],
    ],
    ids=[
        "malformed",
        "list",
        "number",
        "object",
        "null",
        "bool",
        "too-long",
        "missing",
        "array-body",
    ],
)
def test_bad_email_is_a_400_with_a_json_error_and_publishes_nothing(client, fake_redis, body):
    response = post(client, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()
    assert queued_messages(fake_redis, "email") == []
    assert not OutboxEvent.objects.exists()


def test_invalid_json_is_a_400_json_error(client, fake_redis):
    response = client.post(URL, data=b'{"email": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")
    assert queued_messages(fake_redis, "email") == []


def test_redis_down_still_answers_202_and_keeps_the_event_in_the_outbox(client, fake_redis):
    fake_redis.server.connected = False
    response = post(client, {"email": "alice@example.com"})
    assert response.status_code == 202
    [row] = OutboxEvent.objects.all()
    assert row.type == "password.reset_requested"
    assert row.message["payload"]["email"] == "alice@example.com"
    assert row.last_error


def test_a_repeated_email_field_in_a_form_body_is_a_400(client, fake_redis):
    response = client.post(
        URL, data="email=a%40example.com&email=b%40example.com",
        content_type="application/x-www-form-urlencoded",
    )  # fmt: skip
    assert response.status_code == 400
    assert "more than once" in response.json()["detail"]
    assert queued_messages(fake_redis, "email") == []


def test_a_repeated_email_key_in_json_is_a_400(client, fake_redis):
    response = client.post(
        URL, data=b'{"email": "a@example.com", "email": "b@example.com"}',
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The field 'email' is given more than once.",
        "code": "parse_error",
    }
    assert queued_messages(fake_redis, "email") == []


def test_form_encoded_requests_are_accepted_like_json(client, fake_redis):
    as_json = post(client, {"email": "b@example.com"})
    response = client.post(URL, data={"email": "a@example.com"})
    assert response.status_code == as_json.status_code == 202
    assert response.content == as_json.content
    events = [m["args"]["payload"]["email"] for m in queued_messages(fake_redis, "email")]
    assert sorted(events) == ["a@example.com", "b@example.com"]


@pytest.mark.parametrize("email", ["alice@example.com", "not-an-email"])
def test_reset_responses_are_not_cached_and_refer_nowhere_else(client, fake_redis, email):
    response = post(client, {"email": email})
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"  # no URL of ours reaches another site
