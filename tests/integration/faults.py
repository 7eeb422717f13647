"""Building blocks for fault tests: a private stack to break, and the report they write."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection

from shared.messaging.celery_app import app
from shared.models import DeadLetter
from tests.brokers import connection_to
from tests.processes import CeleryWorker, worker_env
from tests.proxy import CuttableProxy
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
# The full report (every fault ran, so on PostgreSQL) replaces the one in docs/; a partial one
# goes to var/, so a run that skipped some faults never overwrites the documented table.
REPORT = ROOT / "docs" / "fault-tests.md"
PARTIAL_REPORT = ROOT / "var" / "fault-tests.md"
FAULTS = 9
ROWS: list[dict] = []


@contextmanager
def database_through_proxy() -> Iterator[CuttableProxy]:
    """This process's database connections, and those of workers started inside the block,
    go through a proxy the test can cut (PostgreSQL only)."""
    settings_dict = connection.settings_dict
    original = (settings_dict["HOST"], settings_dict["PORT"])
    proxy = CuttableProxy(original[0] or "127.0.0.1", int(original[1] or 5432)).start()
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", proxy.port
    try:
        yield proxy
    finally:
        connection.close()
        settings_dict["HOST"], settings_dict["PORT"] = original
        proxy.close()


def make_users(count: int, prefix: str) -> list[str]:
    """``count`` active accounts with usable passwords; returns their addresses."""
    password = make_password("a-long-shared-passphrase")
    users = [
        get_user_model()(
            username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password=password
        )
        for i in range(count)
    ]
    get_user_model().objects.bulk_create(users)
    return [user.email for user in users]


def start_worker(
    redis_url: str, smtp_url: str, pool: str = "threads", concurrency: int = 4, **env: str
) -> CeleryWorker:
    env = {"HANDLER_RETRY_BASE": "1", "LOG_LEVEL": "WARNING", **env}
    worker = CeleryWorker(
        worker_env(redis_url, smtp_url, "https://accounts.example.test", **env),
        queues="email,security", pool=pool, concurrency=concurrency,
    )  # fmt: skip
    return worker.start(app)


def restore_unacknowledged(redis_url: str) -> int:
    """Hand the messages a dead worker held back to its queue at once; returns how many.

    Workers do this themselves for any message left unacknowledged longer than the visibility
    timeout (15 minutes): kombu's ``restore_visible``, called here with a timeout of 0. Called
    while no worker runs, every unacknowledged message is the dead one's. (A short timeout set
    for the test instead would hand a live worker's slow messages out twice.)"""
    with connection_to(redis_url, visibility_timeout=0) as connection:
        qos = connection.default_channel.qos
        with connection.default_channel.conn_or_acquire() as client:
            held = client.zcard(qos.unacked_index_key)
        qos.restore_visible(num=10_000)
    return held


def wait_for_recipients(
    worker: CeleryWorker, handler, expected: set[str], timeout: float
) -> Counter:
    """Wait until every expected address got mail and ``worker`` has nothing left to do (so a
    duplicate would have landed too); count per recipient."""
    deadline = time.monotonic() + timeout
    eventually(lambda: expected <= {env.rcpt_tos[0] for env, _ in handler.messages}, timeout)
    assert worker.wait_until_idle(timeout=max(5.0, deadline - time.monotonic())), "still busy"
    return Counter(env.rcpt_tos[0] for env, _ in handler.messages)


def record(fault: str, requested: int, counts: Counter, expected: set[str]):
    """Add the fault's row to the report (dead letters counted here); returns (delivered,
    duplicated)."""
    dead_lettered = DeadLetter.objects.count()
    delivered = len(set(counts) & expected)
    duplicated = sum(n - 1 for n in counts.values() if n > 1)
    ROWS.append({"fault": fault, "requested": requested, "delivered": delivered,
                 "duplicated": duplicated, "dead_lettered": dead_lettered})  # fmt: skip
    return delivered, duplicated


def write_report() -> None:
    if not ROWS:
        return
    now = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    lines = [
        "# Fault tests: what arrived",
        "",
        "Written by `tests/integration/test_faults.py` each time it runs, with real Redis,",
        "Celery worker and SMTP (aiosmtpd) processes. *Requested*: reset requests answered 202",
        "(or password changes answered 200); *delivered*: distinct accounts whose email",
        "reached the SMTP server; *duplicated*: extra copies; *dead-lettered*: rows in the",
        "dead-letter table.",
        "",
        f"Database: {connection.vendor}. Last run: {now} UTC.",
        "",
        "| fault | requested | delivered | duplicated | dead-lettered |",
        "|---|---|---|---|---|",
    ]
    for row in ROWS:
        lines.append(f"| {row['fault']} | {row['requested']} | {row['delivered']} | "
                     f"{row['duplicated']} | {row['dead_lettered']} |")  # fmt: skip
    path = REPORT if len(ROWS) == FAULTS else PARTIAL_REPORT
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
