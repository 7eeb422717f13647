"""Publishing events: the policy. An event is never lost once the API has answered.

* Inside a transaction, the event is written to the outbox in that transaction, so it exists
  exactly when the change it reports exists; after commit it is sent and its row marked sent.
* Outside one (a reset request changes nothing in the database), the event is sent at once,
  and written to the outbox only if the broker cannot be reached or refuses it. During an HTTP
  request, Redis's acknowledgement is read after the response has gone out; a refusal then
  still lands in the outbox.

How the bytes reach Redis is ``shared.messaging.celery_wire``'s business; what happens to an
event left in the outbox is ``shared.messaging.outbox``'s.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from shared.messaging import celery_wire, outbox
from shared.messaging.celery_wire import PublishError
from shared.messaging.events import Event
from shared.models import OutboxEvent


def publish(event: Event) -> None:
    """Publish ``event`` once the current transaction (if any) commits; never lose it."""
    message = event.to_message()
    if transaction.get_connection().in_atomic_block:
        OutboxEvent.objects.create(id=event.id, type=event.type, message=message)
        transaction.on_commit(lambda: _send_committed({event.id: message}), robust=True)
        return

    def keep(exc: PublishError) -> None:
        outbox.keep(event.id, event.type, message, exc)

    try:
        celery_wire.push(message, on_refusal=keep)
    except PublishError as exc:
        keep(exc)


def publish_many(events: list[Event]) -> None:
    """Publish ``events`` inside the current transaction, as ``publish`` does each one, but
    with one outbox write and, after commit, one round trip to Redis for all of them (a forced
    reset's batch: hundreds of ``password.changed`` at once)."""
    if not transaction.get_connection().in_atomic_block:
        for event in events:
            publish(event)
        return
    messages = {event.id: event.to_message() for event in events}
    OutboxEvent.objects.bulk_create(
        [OutboxEvent(id=event_id, type=m["type"], message=m) for event_id, m in messages.items()]
    )
    transaction.on_commit(lambda: _send_committed(messages), robust=True)


def _send_committed(messages: dict[uuid.UUID, dict]) -> None:
    """After commit: send the events written to the outbox, and mark them sent."""
    try:
        celery_wire.send_many(list(messages.values()))
    except PublishError as exc:
        outbox.failed(list(messages), exc)
        return
    outbox.mark_sent(list(messages))
