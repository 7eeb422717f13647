"""The event envelope is validated on both sides: malformed events are refused, not guessed at."""

from __future__ import annotations

import uuid

import pytest

from shared.messaging.events import (
    SUBSCRIPTIONS,
    EventError,
    PasswordResetRequestedV1,
    make_event,
    parse_event,
)


def valid_message():
    return make_event(
        PasswordResetRequestedV1(
            email="a@example.com", ip="10.0.0.1", user_agent="x", language="en"
        )
    ).to_message()


def test_an_event_survives_the_round_trip_through_json():
    message = valid_message()
    event, payload = parse_event(message)
    assert str(event.id) == message["id"]
    assert payload.email == "a@example.com"
    assert message["occurred_at"].endswith("Z")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.update(type="password.unknown"),
        lambda m: m.update(version=2),
        lambda m: m.update(id="not-a-uuid"),
        lambda m: m.update(id=str(uuid.uuid1())),
        lambda m: m.update(occurred_at="2026-01-01T00:00:00+02:00"),
        lambda m: m.update(occurred_at="2026-01-01T00:00:00"),
        lambda m: m["payload"].update(email=["a@example.com"]),
        lambda m: m["payload"].update(extra="field"),
        lambda m: m.pop("payload"),
        lambda m: m.update(surprise=1),
    ],
    ids=[
        "unknown-type",
        "unknown-version",
        "bad-id",
        "not-uuid4",
        "not-utc",
        "naive-time",
        "list-email",
        "extra-payload-field",
        "no-payload",
        "extra-envelope-field",
    ],
)
def test_malformed_events_are_refused(mutate):
    message = valid_message()
    mutate(message)
    with pytest.raises(EventError):
        parse_event(message)


def test_a_non_object_message_is_refused():
    with pytest.raises(EventError):
        parse_event(["not", "an", "object"])


def test_every_subscription_has_a_registered_handler_on_its_queue():
    from workers.celery import app

    app.loader.import_default_modules()
    for subs in SUBSCRIPTIONS.values():
        for sub in subs:
            assert sub.task in app.tasks
            assert app.amqp.router.route({}, sub.task)["queue"].name == sub.queue
