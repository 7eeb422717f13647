"""The service keeps its promises while its parts fail: real Redis, Celery worker and SMTP
processes, broken on purpose; every test counts what arrived. The counts also go to
docs/fault-tests.md."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.test import Client

from shared.devservices.mailsink import MailSink
from shared.devservices.redis import RedisServer
from shared.infra import ratelimit
from shared.models import DeadLetter, OutboxEvent
from tests.api_client import Device
from tests.brokers import reset_connections, use_redis
from tests.conftest import set_rates
from tests.integration import faults
from tests.integration.sentinels import SentinelGroup
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

ALL_OFF = {scope: None for scope in ("reset_ip", "reset_email", "confirm_ip", "change_user",
                                     "login_ip")}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    faults.write_report()


@pytest.fixture
def sink():
    server = MailSink().start()
    yield server
    server.stop()


@pytest.fixture
def no_throttles(settings):
    set_rates(settings, **ALL_OFF)


def request_resets(addresses) -> list[int]:
    client = Client()
    return [
        client.post("/api/auth/password/reset/", data=json.dumps({"email": address}),
                    content_type="application/json").status_code
        for address in addresses
    ]  # fmt: skip


def test_redis_stopped_during_200_requests_loses_nothing(private_redis, sink, no_throttles):
    addresses = faults.make_users(200, "redisdown")
    worker = faults.start_worker(private_redis.url, sink.url)
    try:
        private_redis.stop()
        statuses = request_resets(addresses)
        assert statuses == [202] * 200
        assert OutboxEvent.objects.count() == 200

        private_redis.start()
        call_command("relay_outbox")
        assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
        counts = faults.wait_for_recipients(worker, sink.handler, set(addresses), timeout=90)
    finally:
        worker.stop()
    delivered, duplicated = faults.record(
        "Redis stopped while 200 resets are requested (relay after it returns)",
        200, counts, set(addresses),
    )  # fmt: skip
    assert (delivered, duplicated) == (200, 0)


def test_a_worker_killed_mid_batch_loses_nothing(private_redis, sink, no_throttles):
    addresses = faults.make_users(100, "sigkill")
    sink.handler.delay = 0.05
    first = faults.start_worker(private_redis.url, sink.url, concurrency=4)
    try:
        assert request_resets(addresses) == [202] * 100
        # Killed mid-batch, not before it began nor after it ended.
        assert 30 <= len(sink.handler.wait_for(30, timeout=60)) < 100
        os.kill(first.process.pid, signal.SIGKILL)
        first.process.wait()
        at_kill = len(sink.handler.messages)
        # What the visibility timeout does 15 minutes later, done now.
        held = faults.restore_unacknowledged(private_redis.url)
        assert 1 <= held <= 4  # the dead worker's messages in flight (4 threads, prefetch 1)
        second = faults.start_worker(private_redis.url, sink.url, concurrency=4)
        try:
            counts = faults.wait_for_recipients(second, sink.handler, set(addresses), timeout=90)
        finally:
            second.stop()
    finally:
        first.stop()
    delivered, duplicated = faults.record(
        f"Worker SIGKILLed after {at_kill} of 100 messages ({held} held), new worker started",
        100, counts, set(addresses),
    )  # fmt: skip
    assert delivered == 100
    assert duplicated <= 4  # at most the tasks the killed worker held


def test_an_smtp_outage_of_20_seconds_delays_but_loses_nothing(private_redis, sink, no_throttles):
    addresses = faults.make_users(20, "smtpdown")
    refused_for_good = faults.make_users(1, "nomailbox")
    sink.handler.refused = set(refused_for_good)
    # Retries no further apart than 8 s, so recovery shows within seconds of the outage's end.
    worker = faults.start_worker(private_redis.url, sink.url, HANDLER_RETRY_MAX_DELAY="8")
    try:
        sink.stop()  # connection refused
        started = time.monotonic()
        assert request_resets(addresses + refused_for_good) == [202] * 21
        # The outage's phases last as long as the fault says; each must be met by the worker.
        time.sleep(7)
        sink.restart()
        sink.handler.rcpt_reply = "421 4.3.2 Service shutting down, try later"
        time.sleep(7)
        assert eventually(lambda: sink.handler.refusals["421"] >= 1, timeout=30)
        sink.handler.rcpt_reply = None
        sink.handler.data_reply = "451 4.3.0 Local error in processing"
        time.sleep(max(0.0, 20 - (time.monotonic() - started)))
        assert eventually(lambda: sink.handler.refusals["451"] >= 1, timeout=30)
        sink.handler.data_reply = None
        # Waits for the workers to be idle too: the 550 address's task has ended.
        counts = faults.wait_for_recipients(worker, sink.handler, set(addresses), timeout=120)
    finally:
        worker.stop()
    letters = list(DeadLetter.objects.all())
    delivered, duplicated = faults.record(
        "SMTP refusing for 20 s (connection refused, then 421, then 451), plus one 550 address",
        21, counts, set(addresses),
    )  # fmt: skip
    assert (delivered, duplicated) == (20, 0)
    assert [(letter.reason, "550" in letter.error) for letter in letters] == [
        ("permanent_failure", True)
    ]
    assert refused_for_good[0] not in counts
    assert sink.handler.refusals["550"] == 1  # refused for good once, never retried


def test_sigterm_lets_the_worker_finish_the_task_in_hand(private_redis, sink, no_throttles):
    [address] = faults.make_users(1, "sigterm")
    sink.handler.delay = 3.0
    worker = faults.start_worker(private_redis.url, sink.url, pool="solo", concurrency=1)
    try:
        assert request_resets([address]) == [202]
        assert sink.handler.receiving.wait(timeout=30)
        worker.process.send_signal(signal.SIGTERM)
        exit_code = worker.process.wait(timeout=60)
        exited_at = time.monotonic()
    finally:
        worker.stop()
    counts = faults.wait_for_recipients(worker, sink.handler, {address}, timeout=1)
    faults.record("SIGTERM to a worker while it sends", 1, counts, {address})
    assert exit_code == 0
    assert counts[address] == 1
    assert sink.handler.received_at[0] <= exited_at


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="cuts a TCP connection to PostgreSQL (DATABASE_URL); SQLite is a local file",
)
def test_the_database_going_away_answers_503_and_loses_nothing(private_redis, sink, no_throttles):
    [address] = faults.make_users(1, "dbdown")
    client = Client()
    with faults.database_through_proxy() as proxy:
        worker = faults.start_worker(private_redis.url, sink.url, HANDLER_RETRY_MAX_DELAY="4")
        try:
            proxy.cut()
            assert request_resets([address]) == [202]  # needs no database: published to Redis
            login = client.post("/api/auth/login/", data=json.dumps(
                {"username": "dbdown0", "password": "a-long-shared-passphrase"}),
                content_type="application/json")  # fmt: skip
            assert login.status_code == 503
            assert login["Content-Type"] == "application/json"
            assert login["Retry-After"]
            assert login.json()["detail"]
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"] == {"database": "unavailable", "redis": "ok"}
            # The worker meets the outage and schedules a retry; nothing was sent.
            assert eventually(lambda: "will retry event" in worker.output(), timeout=30)
            assert not sink.handler.messages
            proxy.restore()
            counts = faults.wait_for_recipients(worker, sink.handler, {address}, timeout=60)
        finally:
            worker.stop()
    assert client.get("/readyz").status_code == 200
    delivered, duplicated = faults.record(
        "Database unreachable (API answers 503 JSON; reset requests still 202)",
        1, counts, {address},
    )  # fmt: skip
    assert (delivered, duplicated) == (1, 0)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="drops the worker's pooled PostgreSQL connections (DATABASE_URL); SQLite has none",
)
def test_pooled_connections_broken_while_idle_cost_a_retry_not_an_email(
    private_redis, sink, no_throttles
):
    """Workers lend pooled connections out without a health check (api/settings.py). After a
    database restart, every idle connection in the pool is dead: the task that draws one fails
    its first query, retries, and the email still arrives once."""
    addresses = faults.make_users(9, "poolbreak")
    with faults.database_through_proxy() as proxy:
        worker = faults.start_worker(private_redis.url, sink.url, concurrency=4)
        try:
            assert request_resets(addresses[:4]) == [202] * 4  # the pool now holds connections
            faults.wait_for_recipients(worker, sink.handler, set(addresses[:4]), timeout=30)
            proxy.cut()  # every pooled connection dies, as in a restart
            proxy.restore()
            assert request_resets(addresses[4:]) == [202] * 5
            counts = faults.wait_for_recipients(worker, sink.handler, set(addresses), timeout=60)
            log = worker.output()
        finally:
            worker.stop()
    delivered, duplicated = faults.record(
        "Database connections in the workers' pool broken while idle (a restart)",
        9, counts, set(addresses),
    )  # fmt: skip
    assert (delivered, duplicated) == (9, 0)
    assert "will retry event" in log  # the broken connections were met, and retried


def test_redis_restarted_empty_loses_no_password_changed_notice(
    private_redis, sink, no_throttles, settings
):
    """Workers paused, so the events wait in Redis; Redis restarts with nothing kept. The
    outbox still holds every event written with a password change, and the relay sends them
    again once OUTBOX_REDELIVER_AFTER has passed (0 here: at once)."""
    addresses = faults.make_users(10, "forgotten")
    for i, address in enumerate(addresses):
        device = Device(ip=f"198.51.100.{i + 1}")
        assert device.login("a-long-shared-passphrase", email=address).status_code == 200
        new_password = f"a-new-long-passphrase-{i}"
        assert device.change_password("a-long-shared-passphrase", new_password).status_code == 200
    queued = redis.Redis(port=private_redis.port)
    assert queued.llen("email") == 10

    private_redis.stop()
    private_redis.start()  # memory-only: it comes back empty
    assert queued.llen("email") == 0
    worker = faults.start_worker(private_redis.url, sink.url)
    try:
        settings.OUTBOX_REDELIVER_AFTER = 0
        call_command("relay_outbox")
        counts = faults.wait_for_recipients(worker, sink.handler, set(addresses), timeout=60)
    finally:
        worker.stop()
    delivered, duplicated = faults.record(
        "Redis restarted empty (no persistence) with 10 password changes waiting, workers "
        "paused; the relay sends them again",
        10, counts, set(addresses),
    )  # fmt: skip
    assert (delivered, duplicated) == (10, 0)
    subjects = {message["Subject"] for _, message in sink.handler.messages}
    assert subjects == {"Account security: Your password was changed"}


def test_an_append_only_redis_killed_and_restarted_keeps_every_reset_request(
    sink, no_throttles, tmp_path
):
    """Reset requests have no outbox row (the API never touches the database for them): Redis
    is their only copy, so they rely on its persistence, as `make run`'s Redis and
    docker-compose's have it (append-only, fsync before each acknowledgement)."""
    server = RedisServer(data_dir=tmp_path / "redis").start()
    use_redis(server.url)
    try:
        addresses = faults.make_users(30, "aof")
        assert request_resets(addresses) == [202] * 30
        assert not OutboxEvent.objects.exists()  # Redis took every one: only Redis has them
        server.kill()  # SIGKILL: no chance to write anything more
        server.start()  # the same port and directory: it reads its append-only file
        assert redis.Redis(port=server.port).llen("email") == 30
        worker = faults.start_worker(server.url, sink.url)
        try:
            counts = faults.wait_for_recipients(worker, sink.handler, set(addresses), timeout=60)
        finally:
            worker.stop()
    finally:
        server.stop()
        reset_connections()
    delivered, duplicated = faults.record(
        "Redis with an append-only file (fsync always) SIGKILLed with 30 reset requests "
        "waiting, workers paused, restarted from its file",
        30, counts, set(addresses),
    )  # fmt: skip
    assert (delivered, duplicated) == (30, 0)


def test_a_master_killed_under_sentinel_loses_no_reset_request(
    sink, no_throttles, tmp_path, settings
):
    """REDIS_URL names three sentinels watching a master and a replica. The master is
    SIGKILLed during a stream of reset requests: every request still answers 202 (during the
    failover, Redis's refusals go to the outbox), and once the sentinels have promoted the
    replica, the API, the relay and the worker all reach it: every email arrives."""
    group = SentinelGroup(tmp_path).start()
    use_redis(group.url)
    addresses = faults.make_users(60, "failover")
    worker = faults.start_worker(group.url, sink.url)
    try:
        statuses = []
        for i, address in enumerate(addresses):
            if i == 20:
                group.kill_master()
            statuses.extend(request_resets([address]))
            time.sleep(0.1)  # a stream of about 6 s, across the failover
        group.wait_for_promotion()
        assert statuses == [202] * 60
        assert Client().get("/readyz").json()["checks"]["redis"] == "ok"  # the new master
        set_rates(settings, login_ip="5/min")
        assert ratelimit.hit("login_ip", "203.0.113.5") is None
        promoted = redis.Redis(port=group.replica_port)
        assert promoted.keys("resetpass:rl:login_ip:*")  # counted on the promoted replica
        kept = OutboxEvent.objects.filter(sent_at__isnull=True).count()
        call_command("relay_outbox")  # what Redis refused while it had no master
        assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
        counts = faults.wait_for_recipients(worker, sink.handler, set(addresses), timeout=90)
    finally:
        worker.stop()
        group.stop()
        reset_connections()
    delivered, duplicated = faults.record(
        "Redis master SIGKILLed under Sentinel (1 replica, 3 sentinels) during 60 reset "
        f"requests; {kept} of them kept in the outbox until the replica was promoted",
        60, counts, set(addresses),
    )  # fmt: skip
    assert (delivered, duplicated) == (60, 0)
