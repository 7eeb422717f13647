"""The Procfile's relay, run as its own process: it sends what waits in the outbox once Redis is
back, says nothing while there is nothing to send, and stops at once, cleanly, on SIGTERM (a
deploy, honcho, compose) and on Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from shared.models import OutboxEvent
from tests.processes import settings_environment, worker_env
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def procfile_relay() -> list[str]:
    [line] = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("relay:")]
    return shlex.split(line.partition(":")[2])


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_the_relay_process_sends_what_waited_then_stops_cleanly(
    client, private_redis, tmp_path, stop_signal
):
    private_redis.stop()
    answer = client.post("/api/auth/password/reset/", data=json.dumps({"email": "a@example.com"}),
                         content_type="application/json")  # fmt: skip
    assert answer.status_code == 202
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 1
    private_redis.start()

    env = {**settings_environment(),
           **worker_env(private_redis.url, "smtp://127.0.0.1:9", "http://localhost:8000"),
           "OUTBOX_RELAY_INTERVAL": "0.1"}  # fmt: skip
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"  # as honcho has it
    log = tmp_path / "relay.log"
    with log.open("wb") as output:
        relay = subprocess.Popen(procfile_relay(), cwd=ROOT, env=env, stdout=output, stderr=output)  # noqa: S603
    try:
        queue = redis.Redis(port=private_redis.port)
        assert eventually(lambda: queue.llen("email") == 1, timeout=30), log.read_text()
        time.sleep(1)  # ten passes more, over an outbox with nothing new to send
        assert queue.llen("email") == 1
        relay.send_signal(stop_signal)
        assert relay.wait(timeout=5) == 0
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()

    lines = [line.split(" ", 4)[-1] for line in log.read_text().splitlines()]
    assert lines == ["relaying the outbox every 0.1 s", "relayed 1 event(s) from the outbox"]
