"""The outbox relay is a process of its own, not a task beat sends every 5 s: Flower and the
workers' logs show only real tasks, and the relay says something only when it did something."""

from __future__ import annotations

import logging
import shlex
import threading
import time

import pytest
from django.db import OperationalError, connections

from shared.management.commands import relay_outbox as relay_command
from shared.messaging.celery_app import app
from shared.messaging.events import PasswordResetRequestedV1, make_event
from shared.messaging.publisher import publish
from tests.conftest import queued_messages
from tests.unit.test_deploy_files import COMPOSE, PROCFILE, ROOT
from tests.waiting import eventually


def test_beat_sends_no_relay_task_and_the_workers_know_none():
    import workers.celery  # noqa: F401 - registers every task, as a worker does

    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert scheduled  # beat still has its daily and hourly clean-ups
    assert not [task for task in (*scheduled, *app.tasks) if "relay" in task]


def test_the_relay_runs_in_the_procfile_in_compose_and_in_make_run():
    assert PROCFILE["relay"] == "python manage.py relay_outbox --loop"
    assert COMPOSE["relay"]["command"] == shlex.split(PROCFILE["relay"])
    run_recipe = (ROOT / "Makefile").read_text().split("\nrun: install\n", 1)[1].split("\n\n")[0]
    assert " relay " in run_recipe


def relaying(interval: float = 0.02) -> tuple[threading.Event, threading.Thread]:
    """``relay_outbox --loop``'s loop in a thread (with a database connection of its own)."""
    stop = threading.Event()

    def run():
        try:
            relay_command.relay_until(stop, interval)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return stop, thread


def kept_in_the_outbox(fake_redis, count: int = 1) -> None:
    fake_redis.server.connected = False
    for n in range(count):
        publish(make_event(PasswordResetRequestedV1(email=f"user{n}@example.com")))
    fake_redis.server.connected = True


@pytest.mark.django_db(transaction=True)
def test_the_relay_loop_sends_what_waits_and_logs_only_that(fake_redis, caplog):
    caplog.set_level(logging.INFO, logger=relay_command.__name__)
    kept_in_the_outbox(fake_redis, count=2)
    stop, thread = relaying()
    try:
        assert eventually(lambda: len(queued_messages(fake_redis, "email")) == 2, timeout=10)
        time.sleep(0.3)  # some fifteen passes more, over an outbox with nothing new to send
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    lines = [r.getMessage() for r in caplog.records if r.name == relay_command.__name__]
    assert lines == ["relaying the outbox every 0.02 s", "relayed 2 event(s) from the outbox"]
    assert len(queued_messages(fake_redis, "email")) == 2  # each sent once


@pytest.mark.django_db(transaction=True)
def test_a_pass_that_fails_is_logged_and_the_next_one_relays(fake_redis, caplog, monkeypatch):
    real = relay_command.relay_outbox
    calls = []

    def database_down_once():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("could not connect to server")
        return real()

    monkeypatch.setattr(relay_command, "relay_outbox", database_down_once)
    kept_in_the_outbox(fake_redis)
    stop, thread = relaying()
    try:
        assert eventually(lambda: len(queued_messages(fake_redis, "email")) == 1, timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
    warnings = [
        r
        for r in caplog.records
        if r.name == relay_command.__name__ and r.levelno >= logging.WARNING
    ]
    assert [r.getMessage() for r in warnings] == [
        "outbox relay: the database is unavailable, trying again later: could not connect to server"
    ]
