"""Publishing: after commit, and never lost when Redis is away."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction

from shared.messaging.events import PasswordResetRequestedV1, make_event
from shared.messaging.outbox import relay_outbox
from shared.messaging.publisher import publish
from shared.models import OutboxEvent
from tests.conftest import queued_messages

pytestmark = pytest.mark.django_db(transaction=True)


def reset_event(email="a@example.com"):
    return make_event(PasswordResetRequestedV1(email=email))


def test_inside_a_transaction_nothing_is_sent_before_commit(fake_redis):
    with transaction.atomic():
        publish(reset_event())
        assert queued_messages(fake_redis, "email") == []
        assert OutboxEvent.objects.count() == 1
    assert len(queued_messages(fake_redis, "email")) == 1
    [kept] = OutboxEvent.objects.all()  # until its handler has finished with it
    assert kept.sent_at is not None


def test_a_rolled_back_transaction_publishes_nothing(fake_redis):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(reset_event())
        raise RuntimeError("the change failed")
    assert queued_messages(fake_redis, "email") == []
    assert OutboxEvent.objects.count() == 0


def test_commit_while_redis_is_down_leaves_the_event_in_the_outbox(fake_redis):
    fake_redis.server.connected = False
    with transaction.atomic():
        publish(reset_event())
    assert OutboxEvent.objects.count() == 1


def test_relay_sends_what_waits_in_the_outbox_once_redis_is_back(fake_redis):
    fake_redis.server.connected = False
    events = [reset_event(f"user{i}@example.com") for i in range(3)]
    for event in events:
        publish(event)
    assert OutboxEvent.objects.count() == 3
    assert relay_outbox() == 0  # still down: nothing sent, nothing lost
    assert OutboxEvent.objects.count() == 3

    fake_redis.server.connected = True
    assert relay_outbox() == 3
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    sent_ids = {m["args"]["id"] for m in queued_messages(fake_redis, "email")}
    assert sent_ids == {str(e.id) for e in events}


def test_relay_outbox_command_publishes_pending_events(fake_redis, capsys):
    fake_redis.server.connected = False
    publish(reset_event())
    fake_redis.server.connected = True
    call_command("relay_outbox")
    assert "relayed 1 event(s)" in capsys.readouterr().out
    assert len(queued_messages(fake_redis, "email")) == 1


def test_each_handler_gets_a_stable_task_id_derived_from_the_event(fake_redis):
    event = reset_event()
    publish(event)
    [message] = queued_messages(fake_redis, "email")
    assert message["headers"]["id"] == f"{event.id}.send_password_reset_email"


def _decoded(raw: bytes) -> dict:
    import base64
    import json

    envelope = json.loads(raw)
    envelope["body"] = json.loads(base64.b64decode(envelope["body"]))
    return envelope


@pytest.mark.parametrize("payload", ["reset", "changed"])
def test_messages_are_what_celery_itself_would_write(fake_redis, payload):
    """The publisher writes task messages without Celery's producer (for speed); they must be
    exactly what ``app.send_task`` writes, apart from the per-message ids, or a Celery or kombu
    upgrade could leave workers unable to read them."""
    from django.utils import timezone

    from shared.messaging.celery_app import app
    from shared.messaging.celery_wire import send, task_id_for
    from shared.messaging.events import SUBSCRIPTIONS, PasswordChangedV1

    if payload == "reset":
        event = reset_event()
    else:
        event = make_event(PasswordChangedV1(user_id=7, reason="change", changed_at=timezone.now()))
    message = event.to_message()
    send(message)
    ours = {}
    for sub in SUBSCRIPTIONS[event.type]:
        [raw] = fake_redis.lrange(sub.queue, 0, -1)
        ours[sub.queue] = _decoded(raw)
        fake_redis.delete(sub.queue)
        app.send_task(
            sub.task, args=[message], queue=sub.queue, task_id=task_id_for(event.id, sub.task),
            argsrepr=f"({event.type} event {event.id})", kwargsrepr="{}",
            # Ours carry the configured limits, as send_task does where the task is registered.
            time_limit=app.conf.task_time_limit, soft_time_limit=app.conf.task_soft_time_limit,
        )  # fmt: skip
        [raw] = fake_redis.lrange(sub.queue, 0, -1)
        theirs = _decoded(raw)
        mine = ours[sub.queue]
        assert mine["body"] == theirs["body"]
        assert mine.keys() == theirs.keys()
        assert {k: v for k, v in mine.items() if k not in ("headers", "properties", "body")} == {
            k: v for k, v in theirs.items() if k not in ("headers", "properties", "body")
        }
        assert mine["headers"] == {**theirs["headers"], "origin": mine["headers"]["origin"]}
        per_message = {"delivery_tag", "reply_to", "argsrepr", "kwargsrepr"}
        assert {k: v for k, v in mine["properties"].items() if k not in per_message} == {
            k: v for k, v in theirs["properties"].items() if k not in per_message
        }
    assert len(ours) == len(SUBSCRIPTIONS[event.type])


def _reset_environ(email: str) -> dict:
    import io
    import json

    body = json.dumps({"email": email}).encode()
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/auth/password/reset/",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver", "REMOTE_ADDR": "203.0.113.5", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "wsgi.errors": io.StringIO(),
    }  # fmt: skip


def test_a_reset_is_answered_before_redis_acknowledges_it(fake_redis, monkeypatch):
    """The WSGI app hands back its 202 with the task message already written to Redis, and
    reads Redis's acknowledgement only when the server closes the response, once it is sent."""
    from django.core.handlers.wsgi import WSGIHandler

    from shared.messaging import celery_wire

    read = []
    real_read = celery_wire._read_replies
    monkeypatch.setattr(celery_wire, "_read_replies", lambda unread: read.append(real_read(unread)))

    statuses = []
    response = WSGIHandler()(_reset_environ("a@example.com"), lambda s, h: statuses.append(s))
    assert statuses == ["202 Accepted"]
    assert len(queued_messages(fake_redis, "email")) == 1
    assert read == []  # the response is not closed yet: nothing read, nothing waited for

    response.close()
    assert len(read) == 1
    assert OutboxEvent.objects.count() == 0


def test_a_reset_redis_refuses_after_the_answer_lands_in_the_outbox(fake_redis, client):
    """Redis takes the bytes but answers with an error (here: the queue's key holds a string).
    The client already has its 202; the event is kept in the outbox and relayed later."""
    import json

    fake_redis.set("email", "not a list")
    response = client.post("/api/auth/password/reset/", json.dumps({"email": "b@example.com"}),
                           content_type="application/json")  # fmt: skip
    assert response.status_code == 202
    [kept] = OutboxEvent.objects.all()
    assert "WRONGTYPE" in kept.last_error
    assert kept.message["payload"]["email"] == "b@example.com"

    fake_redis.delete("email")
    assert relay_outbox() == 1
    [message] = queued_messages(fake_redis, "email")
    assert message["args"]["id"] == str(kept.id)


def test_published_resets_give_their_redis_connection_back(fake_redis, client):
    import json

    from shared.infra.redis_client import get_redis

    for i in range(5):
        client.post("/api/auth/password/reset/", json.dumps({"email": f"u{i}@example.com"}),
                    content_type="application/json")  # fmt: skip
    pool = get_redis().connection_pool
    assert len(pool._in_use_connections) == 0
    assert len(queued_messages(fake_redis, "email")) == 5


def test_a_forked_process_names_itself_as_the_origin(fake_redis):
    """Task messages name the publishing process (``gen<pid>@host``); gunicorn and Celery fork
    after import, so a child must not reuse its parent's cached headers."""
    import json
    import os

    from shared.messaging.celery_wire import task_messages

    message = reset_event().to_message()

    def origin() -> str:
        return json.loads(task_messages(message)[0][1])["headers"]["origin"]

    assert origin().startswith(f"gen{os.getpid()}@")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write_end, origin().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child_origin = os.read(read_end, 1000).decode()
    os.close(read_end)
    assert child_origin.startswith(f"gen{pid}@")


def _as_a_worker_reads_it(raw: bytes, queue: str) -> dict:
    """A task message as the worker sees it, without what differs per message or per
    publishing process (delivery tag, reply queue, origin). Celery's producer also copies
    argsrepr and kwargsrepr into the properties, where nothing reads them (the headers have
    them)."""
    envelope = _decoded(raw)
    headers = {k: v for k, v in envelope["headers"].items() if k != "origin"}
    skip = ("delivery_tag", "reply_to", "argsrepr", "kwargsrepr")
    properties = {k: v for k, v in envelope["properties"].items() if k not in skip}
    return {"queue": queue, "headers": headers, "properties": properties, "body": envelope["body"]}


@pytest.mark.parametrize("in_transaction", [False, True], ids=["at once", "after commit"])
def test_both_publishing_paths_deliver_the_same_event(fake_redis, settings, in_transaction):
    """EVENT_PUBLISH_VIA=celery (Celery's own producer) and the default fast path put the same
    task messages on the same queues, for every handler of the event, inside a transaction or
    not: switching is safe while workers run."""
    from django.utils import timezone

    from shared.messaging.events import SUBSCRIPTIONS, PasswordChangedV1

    event = make_event(PasswordChangedV1(user_id=7, reason="change", changed_at=timezone.now()))
    queues = sorted({sub.queue for sub in SUBSCRIPTIONS[event.type]})
    seen = {}
    for via in ("redis", "celery"):
        settings.EVENT_PUBLISH_VIA = via
        if in_transaction:
            with transaction.atomic():
                publish(event)
            OutboxEvent.objects.all().delete()  # the next path writes the same id
        else:
            publish(event)
        seen[via] = sorted(
            (_as_a_worker_reads_it(raw, queue) for queue in queues
             for raw in fake_redis.lrange(queue, 0, -1)),
            key=lambda m: m["headers"]["task"],
        )  # fmt: skip
        fake_redis.flushall()
    assert len(seen["redis"]) == len(SUBSCRIPTIONS[event.type]) > 1
    assert seen["celery"] == seen["redis"]


def test_through_celery_a_refused_event_is_kept_in_the_outbox(fake_redis, settings):
    settings.EVENT_PUBLISH_VIA = "celery"
    fake_redis.server.connected = False
    event = reset_event()
    publish(event)
    [kept] = OutboxEvent.objects.all()
    assert kept.id == event.id and kept.sent_at is None

    fake_redis.server.connected = True
    assert relay_outbox() == 1
    [message] = queued_messages(fake_redis, "email")
    assert message["args"]["id"] == str(event.id)
