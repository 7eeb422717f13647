"""Redis unreachable: the API still answers 202, and the relay publishes the event later."""

from __future__ import annotations

import json

import pytest
import redis
from django.core.management import call_command

from shared.models import OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)


def request_reset(client, email):
    return client.post(
        "/api/auth/password/reset/",
        data=json.dumps({"email": email}),
        content_type="application/json",
    )


def test_reset_requests_during_a_redis_outage_are_kept_and_relayed_when_it_returns(
    client, private_redis
):
    private_redis.stop()
    responses = [request_reset(client, f"user{i}@example.com") for i in range(5)]
    assert {r.status_code for r in responses} == {202}
    assert len({r.content for r in responses}) == 1
    assert OutboxEvent.objects.count() == 5

    assert client.get("/readyz").json()["checks"]["redis"] == "unavailable"

    private_redis.start()
    call_command("relay_outbox")
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    queued = redis.Redis(port=private_redis.port).llen("email")
    assert queued == 5


def test_readyz_answers_503_when_redis_is_down_and_200_when_it_is_back(client, private_redis):
    assert client.get("/readyz").status_code == 200
    private_redis.stop()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "redis": "unavailable"}
    private_redis.start()
    assert client.get("/readyz").status_code == 200
