"""The broker as the workers use it: kombu's Redis transport with one client per channel, and
task events sent only while a monitor (Flower) asks for them."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from kombu import Connection, Exchange, Queue

from shared.messaging.celery_app import app
from shared.messaging.redis_transport import Transport
from tests.waiting import eventually

RESET_URL = "/api/auth/password/reset/"


@pytest.fixture
def channel(redis_url):
    with Connection(redis_url, transport=Transport) as connection:
        channel = connection.channel()
        yield channel
        channel.close()


def test_the_workers_broker_connection_uses_the_shared_client_transport(redis_url):
    with app.connection_for_read() as connection:
        assert isinstance(connection.transport, Transport)
        assert connection.as_uri().startswith("shared.messaging.redis_transport:Transport://")


def test_a_channel_hands_out_one_client_until_its_pool_is_replaced(channel):
    first = channel._create_client()
    assert channel._create_client() is first
    assert first.connection_pool is channel.pool

    channel._pool = None  # what kombu does when the connection is lost or the process forks
    second = channel._create_client()
    assert second is not first
    assert second.connection_pool is channel.pool


def test_the_shared_client_serves_many_threads_at_once(channel):
    key = f"test:threads:{uuid.uuid4().hex}"

    def push(n: int) -> None:
        for i in range(200):
            with channel.conn_or_acquire() as client, client.pipeline() as pipe:
                pipe.rpush(key, f"{n}:{i}").execute()

    threads = [threading.Thread(target=push, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client = channel._create_client()
    assert client.llen(key) == 1600
    assert len(set(client.lrange(key, 0, -1))) == 1600
    client.delete(key)


def test_messages_go_round_and_acknowledged_ones_leave_no_trace(redis_url):
    """Reserve, acknowledge and restore all go through the shared client."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange("", type="direct"), routing_key=name)
    with Connection(redis_url, transport=Transport) as connection:
        producer = connection.Producer(serializer="json")
        for i in range(20):
            producer.publish({"n": i}, routing_key=name, declare=[queue])
        received = []
        with connection.Consumer(queue, callbacks=[lambda body, msg: received.append(msg)]):
            while len(received) < 20:
                connection.drain_events(timeout=5)
        channel = received[0].channel
        client = channel._create_client()
        assert sorted(m.payload["n"] for m in received) == list(range(20))
        assert client.hlen(channel.unacked_key) >= 20  # reserved, not yet acknowledged
        for message in received[:15]:
            message.ack()
        for message in received[15:]:
            message.requeue()
        assert client.hlen(channel.unacked_key) == 0
        assert client.llen(name) == 5  # the 5 requeued are back on the queue
        client.delete(name)


def test_workers_send_task_events_only_after_a_monitor_turns_them_on(live_stack, client):
    """Flower turns events on every 5 s (`enable_events`); until somebody does, a worker sends
    none. With them on, a monitor sees the event handler's task received and succeeded."""
    get_user_model().objects.create_user("dora", "dora@example.com", "an-old-long-passphrase")
    seen: list[dict] = []
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": seen.append})
        listener = threading.Thread(target=receiver.capture, kwargs={"limit": None}, daemon=True)
        listener.start()
        assert _barrier(seen)  # the monitor is subscribed: it receives what is sent from now
        try:
            _check_events(live_stack, client, seen)
        finally:
            app.control.disable_events(destination=[live_stack.hostname])
            receiver.should_stop = True
            listener.join(5)


def _barrier(seen: list[dict]) -> bool:
    """Send a probe event of our own until the monitor has received one: proof that it is
    listening, and that events sent before the probe have been delivered to it."""
    probe = f"probe-{uuid.uuid4().hex}"
    with app.events.default_dispatcher() as dispatcher:

        def arrived() -> bool:
            dispatcher.send(probe)
            return any(event["type"] == probe for event in seen)

        return eventually(arrived, timeout=30, interval=0.1)


def _check_events(worker, client, seen: list[dict]) -> None:
    done = _tasks_done(worker)
    body = json.dumps({"email": "dora@example.com"})
    assert client.post(RESET_URL, body, content_type="application/json").status_code == 202
    assert eventually(lambda: _tasks_done(worker) > done)
    assert _barrier(seen)  # an event sent now has arrived, so any sent before it had too
    assert not [e for e in seen if e["type"].startswith("task-")]

    app.control.enable_events(destination=[worker.hostname])
    body = json.dumps({"email": "nobody@example.com"})
    assert client.post(RESET_URL, body, content_type="application/json").status_code == 202
    assert eventually(lambda: any(e["type"] == "task-succeeded" for e in seen))
    kinds = [e["type"] for e in seen if e["type"].startswith("task-")]
    assert kinds[:3] == ["task-received", "task-started", "task-succeeded"]
    [received] = [e for e in seen if e["type"] == "task-received"]
    assert received["name"] == "handlers.send_password_reset_email"
    assert "nobody@example.com" not in json.dumps(seen)  # Flower shows no addresses


def _tasks_done(worker) -> int:
    [stats] = app.control.inspect(destination=[worker.hostname], timeout=2).stats().values()
    return sum(stats.get("total", {}).values())
