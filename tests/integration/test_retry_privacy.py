"""A retried task shows Flower and the worker's log no more than its first try did: the event's
type and id, never the address (real Redis, Celery worker and SMTP processes)."""

from __future__ import annotations

import json
import re
import threading

import pytest
from django.test import Client

from shared.devservices.mailsink import MailSink
from shared.messaging.celery_app import app
from tests.factories import make_user
from tests.processes import CeleryWorker, worker_env
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "mike.retried@example.org"
TASK = "handlers.send_password_reset_email"


@pytest.fixture
def sink():
    server = MailSink().start()
    yield server
    server.stop()


def refuse_first_delivery(sink: MailSink) -> None:
    """The SMTP server answers the first RCPT with a 4xx (try later), then accepts as usual."""
    accept = sink.handler.handle_RCPT
    refused = []

    async def handle_rcpt(server, session, envelope, address, rcpt_options):
        if not refused:
            refused.append(address)
            return "451 4.3.0 Try again later"
        return await accept(server, session, envelope, address, rcpt_options)

    sink.handler.handle_RCPT = handle_rcpt  # looked up on each new SMTP session


@pytest.fixture
def worker(private_redis, sink):
    # Task events from the start, as Flower turns them on; Celery's own per-task log lines too.
    env = worker_env(
        private_redis.url, sink.url, "https://accounts.example.test",
        HANDLER_RETRY_BASE="0.5", CELERY_TASK_EVENTS="1", CELERY_TASK_LOGS="1",
    )  # fmt: skip
    worker = CeleryWorker(env, queues="email,security", pool="solo").start(app)
    yield worker
    worker.stop()


class FlowerView:
    """Every event the workers send to a monitor, as Flower receives them."""

    def __init__(self):
        self.events: list[dict] = []
        self._receiver = None
        self._thread = threading.Thread(target=self._capture, daemon=True)

    def _capture(self) -> None:
        with app.connection_for_read() as connection:
            self._receiver = app.events.Receiver(connection, handlers={"*": self.events.append})
            self._receiver.capture(limit=None, timeout=None, wakeup=True)

    def of_type(self, kind: str, task_id: str | None = None) -> list[dict]:
        return [
            event for event in list(self.events)
            if event["type"] == kind and (task_id is None or event.get("uuid") == task_id)
        ]  # fmt: skip

    def __enter__(self) -> FlowerView:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(timeout=10)


def test_retried_task_still_shows_no_address_in_flower(worker, sink):
    make_user("mike", ADDRESS)
    with FlowerView() as flower:
        # The worker answers the monitor's wake-up call: the monitor is listening.
        assert eventually(lambda: flower.of_type("worker-heartbeat"), timeout=30)
        refuse_first_delivery(sink)
        response = Client().post(
            "/api/auth/password/reset/", data=json.dumps({"email": ADDRESS}),
            content_type="application/json",
        )  # fmt: skip
        assert response.status_code == 202
        sink.handler.wait_for(1, timeout=30)
        [retried] = flower.of_type("task-retried")
        task_id = retried["uuid"]
        assert eventually(lambda: flower.of_type("task-succeeded", task_id), timeout=30)
        assert worker.wait_until_idle()  # refused once, then delivered once
        [delivered] = sink.handler.messages

    assert delivered[0].rcpt_tos == [ADDRESS]
    event_id = task_id.split(".")[0]
    received = flower.of_type("task-received", task_id)
    assert [event["retries"] for event in received] == [0, 1]
    for event in received:
        assert event["name"] == TASK
        assert event["args"] == f"(password.reset_requested event {event_id})"
        assert event["kwargs"] == "{}"
    # Nor anywhere else Flower shows: the retry's traceback, exception, the success.
    leaks = [event for event in flower.events if ADDRESS in json.dumps(event)]
    assert not leaks, json.dumps(leaks)
    log = worker.output()
    assert re.search(rf"Task {re.escape(TASK)}\[{re.escape(task_id)}\] retry:", log)
    assert ADDRESS not in log
