"""Publishing events: after commit, to Redis, with the outbox as the safety net.

Two paths, one guarantee (an event is never lost once the API has answered):

* Inside a transaction, the event is written to the outbox in that transaction, so it exists
  exactly when the change it reports exists; after commit it is sent and its row marked sent.
* Outside one (a reset request changes nothing in the database), the event is sent at once,
  and written to the outbox only if the broker cannot be reached or refuses it. During an HTTP
  request, Redis's acknowledgement is read after the response has gone out (see
  ``_request_finished``); a refusal then still lands in the outbox.

Either way a row left in the outbox is sent later by the relay (``relay_outbox``), and a row
stays after it was sent until every handler has finished with the event (``settle_outbox``):
so an event written in a transaction outlives a Redis that forgets it.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import threading
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.utils.json import dumps as json_dumps
from redis.connection import Connection, ConnectionPool
from redis.exceptions import RedisError

from shared.broker import app
from shared.events import SUBSCRIPTIONS, Event
from shared.models import DeadLetter, OutboxEvent, ProcessedEvent
from shared.redis_client import get_redis

log = logging.getLogger(__name__)

# Outbox rows the relay and the settling read per transaction.
RELAY_BATCH = 500


class PublishError(RuntimeError):
    """The broker did not take the event."""


def task_id_for(event_id: uuid.UUID | str, task: str) -> str:
    """One stable id per (event, handler): a re-sent event keeps its task ids."""
    return f"{event_id}.{task.rsplit('.', 1)[-1]}"


@functools.cache
def _prototype(task: str) -> tuple[dict, dict, dict]:
    """Headers, properties and the ``embed`` part of the body that Celery's task protocol
    (``as_task_v2``) gives every message of ``task``: built by Celery once per process (the
    origin names the process, so a forked child builds its own), then copied for each message.
    Reading Celery's configuration alone costs more than copying them."""
    time_limit, soft_time_limit = app.conf.task_time_limit, app.conf.task_soft_time_limit
    task_message = app.amqp.as_task_v2(
        "", task, args=[], kwargs={}, argsrepr="", kwargsrepr="{}",
        ignore_result=None,  # as send_task leaves it: the task's own setting decides
        # The limits travel with the message, as send_task does where the task is known.
        time_limit=time_limit, soft_time_limit=soft_time_limit,
    )  # fmt: skip
    properties = {
        **task_message.properties,
        "delivery_mode": 2,  # persistent
        "priority": 0,
        "body_encoding": "base64",
    }
    return task_message.headers, properties, task_message.body[2]


os.register_at_fork(after_in_child=_prototype.cache_clear)


def task_messages(message: dict, only: set[str] | None = None) -> list[tuple[str, str]]:
    """``(queue, raw task message)`` for each handler of the event (or each named in ``only``),
    as Celery's Redis transport writes them: Celery's own task protocol (``as_task_v2``),
    serialised as kombu does, wrapped in the transport's JSON envelope.
    ``tests/unit/test_publisher.py`` holds this equal to what ``app.send_task`` writes, so a
    Celery or kombu upgrade that changes the format fails there.
    """
    out = []
    for sub in SUBSCRIPTIONS.get(message["type"], ()):
        if only is not None and sub.task not in only:
            continue
        headers, properties, embed = _prototype(sub.task)
        task_id = task_id_for(message["id"], sub.task)
        # Flower and worker logs show argsrepr instead of the payload (addresses).
        argsrepr = f"({message['type']} event {message['id']})"
        body = json_dumps([[message], {}, embed])
        envelope = {
            "body": base64.b64encode(body.encode()).decode("ascii"),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {**headers, "id": task_id, "root_id": task_id, "argsrepr": argsrepr},
            "properties": {
                **properties,
                "correlation_id": task_id,
                "delivery_info": {"exchange": "", "routing_key": sub.queue},
                "delivery_tag": str(uuid.uuid4()),
            },
        }
        out.append((sub.queue, json.dumps(envelope)))
    return out


class _Unread(NamedTuple):
    """Task messages written to Redis whose acknowledgements are still to be read."""

    pool: ConnectionPool
    connection: Connection
    replies: int


def _write(message: dict, only: set[str] | None = None) -> _Unread | None:
    """Write one task message per subscriber of the event's type onto their queues' Redis
    lists, in one round trip, on one of the client's pooled connections; the replies are left
    to ``_read_replies``. Raises PublishError.

    ``app.send_task`` would write the same bytes, but its producer, connection-pool and retry
    machinery cost about 300 µs of CPU per message, and redis-py's pipeline object another
    40 µs: together most of an API request's work (docs/benchmarks.md).
    """
    commands = [("LPUSH", queue, raw) for queue, raw in task_messages(message, only)]
    if not commands:
        return None
    pool = get_redis().connection_pool
    try:
        connection = pool.get_connection()
    except RedisError as exc:
        raise PublishError(f"{type(exc).__name__}: {exc}") from exc
    unread = _Unread(pool, connection, len(commands))
    try:
        connection.send_packed_command(connection.pack_commands(commands))
    except (RedisError, OSError) as exc:
        _discard(unread)
        raise PublishError(f"{type(exc).__name__}: {exc}") from exc
    return unread


def _read_replies(unread: _Unread) -> None:
    """Read Redis's acknowledgements (0.5 s timeout) and give the connection back. Raises
    PublishError if Redis refused a message or did not answer."""
    try:
        for _ in range(unread.replies):
            unread.connection.read_response()
    except (RedisError, OSError) as exc:
        _discard(unread)
        raise PublishError(f"{type(exc).__name__}: {exc}") from exc
    unread.pool.release(unread.connection)


def _discard(unread: _Unread) -> None:
    # Replies may be left unread: the connection is not given back to others as it is.
    unread.connection.disconnect()
    unread.pool.release(unread.connection)


def send_to_broker(message: dict, only: set[str] | None = None) -> None:
    """Send one task message per subscriber of the event's type (or per handler in ``only``)
    and wait for Redis to take them. Raises PublishError (then the caller keeps the event in
    the outbox)."""
    unread = _write(message, only)
    if unread is not None:
        _read_replies(unread)


# During an HTTP request, an event published outside a transaction (a reset request) is
# written to Redis at once but its acknowledgement is read only after the response has gone
# out (Django's request_finished signal, which the WSGI server sends when it closes the
# response): the client does not wait for a round trip to Redis. The bytes are in the
# kernel's hands before the response is even built, so a process that dies after answering
# has still sent them; if Redis refuses them or does not answer, the event goes to the outbox,
# as it does when Redis cannot be reached at all (which is known before the answer).
_requests = threading.local()


def _request_started(**kwargs) -> None:
    _confirm_unread()  # left by a server that did not close its last response
    _requests.unread = []


def _request_finished(**kwargs) -> None:
    _confirm_unread()
    _requests.unread = None


def _confirm_unread() -> None:
    pending, _requests.unread = getattr(_requests, "unread", None) or [], None
    for event_id, event_type, message, unread in pending:
        try:
            _read_replies(unread)
        except PublishError as exc:
            _keep(event_id, event_type, message, exc)


request_started.connect(_request_started, dispatch_uid="publisher.request_started")
request_finished.connect(_request_finished, dispatch_uid="publisher.request_finished")


def _keep(event_id: uuid.UUID, event_type: str, message: dict, exc: PublishError) -> None:
    log.warning("broker unreachable, event %s %s kept in the outbox: %s", event_type, event_id, exc)
    OutboxEvent.objects.create(
        id=event_id, type=event_type, message=message, attempts=1, last_error=str(exc)
    )


def publish(event: Event) -> None:
    """Publish ``event`` once the current transaction (if any) commits; never lose it."""
    message = event.to_message()
    if transaction.get_connection().in_atomic_block:
        OutboxEvent.objects.create(id=event.id, type=event.type, message=message)
        transaction.on_commit(lambda: _send_from_outbox(event.id, message), robust=True)
        return
    try:
        unread = _write(message)
        if unread is None:
            return  # no handler for this event type
        pending = getattr(_requests, "unread", None)
        if pending is None:  # not inside an HTTP request: wait for Redis here
            _read_replies(unread)
        else:
            pending.append((event.id, event.type, message, unread))
    except PublishError as exc:
        _keep(event.id, event.type, message, exc)


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
    transaction.on_commit(lambda: _send_many_from_outbox(messages), robust=True)


def _send_many_from_outbox(messages: dict[uuid.UUID, dict]) -> None:
    commands = [("LPUSH", queue, raw) for m in messages.values() for queue, raw in task_messages(m)]
    try:
        pipe = get_redis().pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("broker unreachable, %d event(s) left to the relay: %s", len(messages), exc)
        OutboxEvent.objects.filter(id__in=list(messages)).update(attempts=1, last_error=str(exc))
        return
    _mark_sent(list(messages))  # kept until the handlers have finished (``settle_outbox``)


def _send_from_outbox(event_id: uuid.UUID, message: dict) -> None:
    try:
        send_to_broker(message)
    except PublishError as exc:
        log.warning("broker unreachable, event %s left to the relay: %s", event_id, exc)
        OutboxEvent.objects.filter(id=event_id).update(attempts=1, last_error=str(exc))
        return
    _mark_sent([event_id])  # kept until the handlers have finished (``settle_outbox``)


def relay_outbox(batch_size: int | None = None) -> int:
    """Send the events of the outbox that Redis never took, oldest first, and mark them sent.
    Returns how many were sent. ``settle_outbox`` then sees each through to its handlers.

    Rows are locked with SKIP LOCKED (on PostgreSQL), so several relays never send one row at
    the same time; if the process dies after sending and before marking, the event is sent
    again, which the handlers' idempotency absorbs.
    """
    batch_size = batch_size or RELAY_BATCH
    sent = 0
    while True:
        with transaction.atomic():
            unsent = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
                sent_at__isnull=True
            )
            rows = list(unsent.order_by("created_at")[:batch_size])
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
                    _mark_sent(done)
                    return sent + len(done)
                done.append(row.id)
            _mark_sent(done)
            sent += len(done)
        if len(rows) < batch_size:
            return sent


def _mark_sent(ids: list) -> None:
    OutboxEvent.objects.filter(id__in=ids).update(
        sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
    )


def finished_handlers(event_ids: list) -> dict[uuid.UUID, set[str]]:
    """For each event, the handlers that are done with it: those that ran (``ProcessedEvent``)
    and those that gave up and left a dead letter for operators."""
    done: dict[uuid.UUID, set[str]] = defaultdict(set)
    ran = ProcessedEvent.objects.filter(event_id__in=event_ids).values_list("event_id", "handler")
    gave_up = DeadLetter.objects.filter(event_id__in=event_ids).values_list("event_id", "task")
    for event_id, handler in (*ran, *gave_up):
        done[event_id].add(handler)
    return done


class Settled(NamedTuple):
    finished: int  # rows deleted: every handler was done
    resent: int  # rows sent again to the handlers that were not


def settle_outbox(batch_size: int | None = None) -> Settled:
    """Delete the sent events that every handler has finished with; send again, to the
    handlers that have not, those sent more than OUTBOX_REDELIVER_AFTER seconds ago (Redis
    lost them: a restart without persistence, a failover to a replica that never got them).
    The handlers' idempotency absorbs a copy that was not lost after all."""
    batch_size = batch_size or RELAY_BATCH
    overdue = timezone.now() - timedelta(seconds=settings.OUTBOX_REDELIVER_AFTER)
    finished = resent = 0
    after = None  # keyset: (created_at, id) of the last row looked at
    while True:
        with transaction.atomic():
            sent = OutboxEvent.objects.select_for_update(skip_locked=True).filter(
                sent_at__isnull=False
            )
            if after is not None:
                sent = sent.filter(
                    Q(created_at__gt=after[0]) | Q(created_at=after[0], id__gt=after[1])
                )
            rows = list(sent.order_by("created_at", "id")[:batch_size])
            if not rows:
                return Settled(finished, resent)
            done = finished_handlers([row.id for row in rows])
            complete = []
            for row in rows:
                missing = {sub.task for sub in SUBSCRIPTIONS.get(row.type, ())} - done[row.id]
                if not missing:
                    complete.append(row.id)
                elif row.sent_at < overdue:
                    try:
                        send_to_broker(row.message, only=missing)
                    except PublishError as exc:
                        OutboxEvent.objects.filter(id=row.id).update(last_error=str(exc))
                        OutboxEvent.objects.filter(id__in=complete).delete()
                        return Settled(finished + len(complete), resent)
                    log.warning(
                        "event %s %s sent again to %s: not finished %d s after it was sent",
                        row.type, row.id, ", ".join(sorted(missing)),
                        settings.OUTBOX_REDELIVER_AFTER,
                    )  # fmt: skip
                    _mark_sent([row.id])
                    resent += 1
            OutboxEvent.objects.filter(id__in=complete).delete()
            finished += len(complete)
            after = (rows[-1].created_at, rows[-1].id)
        if len(rows) < batch_size:
            return Settled(finished, resent)
