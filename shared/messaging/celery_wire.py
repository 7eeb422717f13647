"""Celery's task messages, written straight to Redis: the fast way to publish.

A handler's task message is what ``app.send_task`` would write (Celery's task protocol,
serialised as kombu does, in the Redis transport's JSON envelope), pushed with one ``LPUSH``
per handler, every handler's in one round trip. ``tests/unit/test_publisher.py`` holds the bytes
equal to ``app.send_task``'s, so a Celery or kombu upgrade that changes the format fails there;
``EVENT_PUBLISH_VIA=celery`` (``shared.messaging.publisher``) then publishes through Celery's
own producer until this module catches up.

Why not ``app.send_task``: its producer, connection-pool and retry machinery cost about 300 µs
of CPU per message, and redis-py's pipeline object another 40 µs: together most of an API
request's work (docs/benchmarks.md).

Redis's acknowledgement is read at once, except during an HTTP request: then it is read after
the response has gone out (``push``), so the client does not wait for the round trip.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
import uuid
from collections.abc import Callable
from typing import NamedTuple

from django.conf import settings
from django.core.signals import request_finished, request_started
from kombu.exceptions import OperationalError
from kombu.utils.json import dumps as json_dumps
from redis.connection import Connection, ConnectionPool
from redis.exceptions import RedisError

from shared.infra.redis_client import get_redis
from shared.messaging.celery_app import app
from shared.messaging.events import SUBSCRIPTIONS


class PublishError(RuntimeError):
    """The broker did not take the event."""


def task_id_for(event_id: uuid.UUID | str, task: str) -> str:
    """One stable id per (event, handler): a re-sent event keeps its task ids."""
    return f"{event_id}.{task.rsplit('.', 1)[-1]}"


def argsrepr(message: dict) -> str:
    """What Flower and worker logs show of a task's arguments instead of the event (whose
    payload holds addresses)."""
    return f"({message['type']} event {message['id']})"


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
    """``(queue, raw task message)`` for each handler of the event (or each named in ``only``)."""
    out = []
    for sub in SUBSCRIPTIONS.get(message["type"], ()):
        if only is not None and sub.task not in only:
            continue
        headers, properties, embed = _prototype(sub.task)
        task_id = task_id_for(message["id"], sub.task)
        body = json_dumps([[message], {}, embed])
        envelope = {
            "body": base64.b64encode(body.encode()).decode("ascii"),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                **headers, "id": task_id, "root_id": task_id, "argsrepr": argsrepr(message)
            },
            "properties": {
                **properties,
                "correlation_id": task_id,
                "delivery_info": {"exchange": "", "routing_key": sub.queue},
                "delivery_tag": str(uuid.uuid4()),
            },
        }  # fmt: skip
        out.append((sub.queue, json.dumps(envelope)))
    return out


class _Unread(NamedTuple):
    """Task messages written to Redis whose acknowledgements are still to be read."""

    pool: ConnectionPool
    connection: Connection
    replies: int


def _write(messages: list[dict], only: set[str] | None = None) -> _Unread | None:
    """LPUSH the events' task messages in one round trip, on one of the client's pooled
    connections, and leave the replies to ``_read_replies``. Raises PublishError."""
    commands = [("LPUSH", queue, raw) for m in messages for queue, raw in task_messages(m, only)]
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


def via_celery() -> bool:
    """``EVENT_PUBLISH_VIA=celery``: publish through ``app.send_task``, not this module's
    writes (the way back if a Celery or kombu upgrade breaks them)."""
    return settings.EVENT_PUBLISH_VIA == "celery"


def send_task(message: dict, only: set[str] | None = None) -> None:
    """The same task messages, sent by Celery's own producer. Raises PublishError."""
    for sub in SUBSCRIPTIONS.get(message["type"], ()):
        if only is not None and sub.task not in only:
            continue
        try:
            app.send_task(
                sub.task, args=[message], kwargs={}, queue=sub.queue,
                task_id=task_id_for(message["id"], sub.task),
                argsrepr=argsrepr(message), kwargsrepr="{}",
                time_limit=app.conf.task_time_limit,
                soft_time_limit=app.conf.task_soft_time_limit,
                retry=False,  # a refusal goes to the outbox at once, as on the fast path
            )  # fmt: skip
        except (OperationalError, RedisError, OSError) as exc:
            raise PublishError(f"{type(exc).__name__}: {exc}") from exc


def send(message: dict, only: set[str] | None = None) -> None:
    """Push the event's task messages and wait for Redis to take them. Raises PublishError."""
    send_many([message], only)


def send_many(messages: list[dict], only: set[str] | None = None) -> None:
    """Push the task messages of many events in one round trip (a forced reset's batch) and
    wait for Redis to take them. Raises PublishError."""
    if via_celery():
        for message in messages:
            send_task(message, only)
        return
    unread = _write(messages, only)
    if unread is not None:
        _read_replies(unread)


# The deferred acknowledgement. During an HTTP request the bytes are written at once, but
# Redis's reply is read only after the response has gone out (Django's request_finished
# signal, which the WSGI server sends when it closes the response). The bytes are in the
# kernel's hands before the response is even built, so a process that dies after answering
# has still sent them; a refusal read later goes to the caller's ``on_refusal``.
_requests = threading.local()


def push(message: dict, on_refusal: Callable[[PublishError], None]) -> None:
    """``send``, but during an HTTP request Redis's reply is read after the response has gone
    out, and a refusal then is handed to ``on_refusal``. Raises PublishError if Redis cannot
    be reached (known before the answer)."""
    if via_celery():
        send_task(message)
        return
    unread = _write([message])
    if unread is None:
        return  # no handler for this event type
    pending = getattr(_requests, "unread", None)
    if pending is None:  # not inside an HTTP request: wait for Redis here
        _read_replies(unread)
    else:
        pending.append((unread, on_refusal))


def _request_started(**kwargs) -> None:
    _confirm_unread()  # left by a server that did not close its last response
    _requests.unread = []


def _request_finished(**kwargs) -> None:
    _confirm_unread()
    _requests.unread = None


def _confirm_unread() -> None:
    pending, _requests.unread = getattr(_requests, "unread", None) or [], None
    for unread, on_refusal in pending:
        try:
            _read_replies(unread)
        except PublishError as exc:
            on_refusal(exc)


request_started.connect(_request_started, dispatch_uid="celery_wire.request_started")
request_finished.connect(_request_finished, dispatch_uid="celery_wire.request_finished")
