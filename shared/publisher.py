"""Publishing events: after commit, to Redis, with the outbox as the safety net.

Two paths, one guarantee (an event is never lost once the API has answered):

* Inside a transaction, the event is written to the outbox in that transaction, so it exists
  exactly when the change it reports exists; after commit it is sent and its row deleted.
* Outside one (a reset request changes nothing in the database), the event is sent at once,
  and written to the outbox only if the broker cannot be reached.

Either way a row left in the outbox is sent later by the relay (``relay_outbox``).
"""

from __future__ import annotations

import base64
import json
import logging
import uuid

from django.conf import settings
from django.db import transaction
from kombu.serialization import dumps as kombu_dumps
from redis.exceptions import RedisError

from shared.broker import app
from shared.events import SUBSCRIPTIONS, Event
from shared.models import OutboxEvent
from shared.redis_client import get_redis

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not take the event."""


def task_id_for(event_id: uuid.UUID | str, task: str) -> str:
    """One stable id per (event, handler): a re-sent event keeps its task ids."""
    return f"{event_id}.{task.rsplit('.', 1)[-1]}"


def task_messages(message: dict) -> list[tuple[str, str]]:
    """``(queue, raw task message)`` for each handler of the event, as Celery's Redis transport
    writes them: Celery's own task protocol (``as_task_v2``), serialised by kombu, wrapped in
    the transport's JSON envelope. ``tests/unit/test_publisher.py`` holds this equal to what
    ``app.send_task`` writes, so a Celery or kombu upgrade that changes the format fails there.
    """
    out = []
    for sub in SUBSCRIPTIONS.get(message["type"], ()):
        task_id = task_id_for(message["id"], sub.task)
        task = app.amqp.as_task_v2(
            task_id,
            sub.task,
            args=[message],
            kwargs={},
            # Flower and worker logs show this instead of the payload (addresses).
            argsrepr=f"({message['type']} event {message['id']})",
            kwargsrepr="{}",
            ignore_result=None,  # as send_task leaves it: the task's own setting decides
            # The limits travel with the message, as send_task does where the task is known.
            time_limit=app.conf.task_time_limit,
            soft_time_limit=app.conf.task_soft_time_limit,
        )
        content_type, encoding, body = kombu_dumps(task.body, serializer="json")
        properties = {
            **task.properties,
            "delivery_mode": 2,  # persistent
            "delivery_info": {"exchange": "", "routing_key": sub.queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        }
        envelope = {
            "body": base64.b64encode(body.encode()).decode("ascii"),
            "content-encoding": encoding,
            "content-type": content_type,
            "headers": task.headers,
            "properties": properties,
        }
        out.append((sub.queue, json.dumps(envelope)))
    return out


def send_to_broker(message: dict) -> None:
    """Send one task message per subscriber of the event's type. Raises PublishError.

    The messages are pushed onto their queues' Redis lists in one round trip. ``app.send_task``
    would write the same bytes, but its producer, connection-pool and retry machinery cost
    about 300 µs of CPU per message, most of an API request's work (docs/benchmarks.md). The
    client has 0.5 s timeouts: when Redis does not answer, the event goes to the outbox.
    """
    try:
        pipe = get_redis().pipeline(transaction=False)
        for queue, raw in task_messages(message):
            pipe.lpush(queue, raw)
        pipe.execute()
    except RedisError as exc:
        raise PublishError(f"{type(exc).__name__}: {exc}") from exc


def publish(event: Event) -> None:
    """Publish ``event`` once the current transaction (if any) commits; never lose it."""
    message = event.to_message()
    if transaction.get_connection().in_atomic_block:
        OutboxEvent.objects.create(id=event.id, type=event.type, message=message)
        transaction.on_commit(lambda: _send_from_outbox(event.id, message), robust=True)
        return
    try:
        send_to_broker(message)
    except PublishError as exc:
        log.warning(
            "broker unreachable, event %s %s kept in the outbox: %s", event.type, event.id, exc
        )
        OutboxEvent.objects.create(
            id=event.id, type=event.type, message=message, attempts=1, last_error=str(exc)
        )


def _send_from_outbox(event_id: uuid.UUID, message: dict) -> None:
    try:
        send_to_broker(message)
    except PublishError as exc:
        log.warning("broker unreachable, event %s left to the relay: %s", event_id, exc)
        OutboxEvent.objects.filter(id=event_id).update(attempts=1, last_error=str(exc))
        return
    OutboxEvent.objects.filter(id=event_id).delete()


def relay_outbox(batch_size: int | None = None) -> int:
    """Send what waits in the outbox, oldest first. Returns how many events were sent.

    Rows are locked with SKIP LOCKED (on PostgreSQL), so several relays never send one row at
    the same time; if the process dies after sending and before deleting, the event is sent
    again, which the handlers' idempotency absorbs.
    """
    batch_size = batch_size or getattr(settings, "OUTBOX_RELAY_BATCH", 500)
    sent = 0
    while True:
        with transaction.atomic():
            rows = list(
                OutboxEvent.objects.select_for_update(skip_locked=True).order_by("created_at")[
                    :batch_size
                ]
            )
            if not rows:
                return sent
            done = []
            for row in rows:
                try:
                    send_to_broker(row.message)
                except PublishError as exc:
                    OutboxEvent.objects.filter(id=row.id).update(
                        attempts=row.attempts + 1, last_error=str(exc)
                    )
                    # The broker is down: stop here, the next run tries again.
                    OutboxEvent.objects.filter(id__in=done).delete()
                    return sent + len(done)
                done.append(row.id)
            OutboxEvent.objects.filter(id__in=done).delete()
            sent += len(done)
        if len(rows) < batch_size:
            return sent
