"""Flower, started with the Procfile's own command, shows the broker's queues and how many
messages wait in each: against one Redis, and against a Redis Sentinel group before and after
its master is killed. It starts without warnings when no worker is up yet."""

from __future__ import annotations

import html
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from shared.devservices import free_port, stop_process
from shared.devservices.redis import RedisServer
from tests.integration.sentinels import SentinelGroup
from tests.processes import settings_environment
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def procfile_flower(port: int) -> list[str]:
    [line] = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("flower:")]
    command = line.partition(":")[2].replace("${FLOWER_PORT:-5555}", str(port))
    return shlex.split(command.replace("${FLOWER_ADDRESS:-127.0.0.1}", "127.0.0.1"))


class Flower:
    def __init__(self, redis_url: str, log: Path):
        self.port = free_port()
        self.log = log.open("ab")
        env = settings_environment(REDIS_URL=redis_url)
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # as honcho has it
        self.process = subprocess.Popen(  # noqa: S603 - the Procfile's command
            procfile_flower(self.port), cwd=ROOT, stdout=self.log, stderr=self.log, env=env
        )

    def broker_page(self, timeout: float = 60) -> str:
        """The Broker page's HTML, once Flower answers it with a 200."""
        pages: list[str] = []

        def fetched() -> bool:
            try:
                url = f"http://127.0.0.1:{self.port}/broker"
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
                    pages.append(response.read().decode())
                    return True
            except urllib.error.HTTPError as error:  # e.g. 404 "'redis' broker is not supported"
                reason = re.search(r"\S+ broker is not supported", error.read().decode())
                pages.append(f"{error.code} {html.unescape(reason.group()) if reason else ''}")
                return False
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        answered = eventually(fetched, timeout=timeout, interval=0.3)
        assert answered, f"the Broker page never answered 200: {pages[-1:]}"
        return pages[-1]

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def queue_lengths(page: str) -> dict[str, int]:
    """The Broker page's table: each queue and its "Messages" cell, where a length shows."""
    rows = re.findall(r'<tr id="([\w-]+)">\s*<td>\1</td>\s*<td[^>]*>(\d+)</td>', page)
    return {name: int(count) for name, count in rows}


def fill(client: redis.Redis, **lengths: int) -> None:
    """Make each named queue hold that many messages (Flower only counts them)."""
    for queue, length in lengths.items():
        client.delete(queue)
        if length:
            client.lpush(queue, *[f"message {n}" for n in range(length)])


def shows(flower: Flower, lengths: dict[str, int], timeout: float = 60) -> str:
    """The Broker page once it shows exactly ``lengths``; fails with the last page seen."""
    pages: list[str] = []

    def showing() -> bool:
        pages.append(flower.broker_page(timeout=timeout))
        return queue_lengths(pages[-1]) == lengths

    assert eventually(showing, timeout=timeout, interval=0.5), (
        f"the Broker page showed {queue_lengths(pages[-1])}, not {lengths}:\n{pages[-1][-3000:]}"
    )
    return pages[-1]


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def test_flower_shows_how_many_messages_wait_in_each_queue_of_one_redis(redis_server, tmp_path):
    fill(redis.Redis(port=redis_server.port), email=3, security=0, webhooks=1)
    flower = Flower(redis_server.url, tmp_path / "flower.log")
    try:
        page = shows(flower, {"email": 3, "security": 0, "webhooks": 1})
        assert "not supported" not in page
        assert "redis://" in page  # the broker's URL, with the scheme Flower reads queues by
    finally:
        flower.stop()


def test_flower_starts_without_warning_that_no_worker_answered_yet(redis_server, tmp_path):
    """Under `make run` Flower starts beside the workers, before any of them listens. Its
    first questions to them (stats, active_queues, registered, conf, within a second) go
    unanswered; that is no failure worth four warnings."""
    log = tmp_path / "flower.log"
    flower = Flower(redis_server.url, log)
    try:
        flower.broker_page()
        time.sleep(3)  # Flower's inspection waits 1 s for answers, then logs what failed
    finally:
        flower.stop()
    output = log.read_text()
    assert "Visit me at" in output  # the log is Flower's, and it started
    assert "Inspect method" not in output
    assert "WARNING" not in output


def test_flower_follows_a_sentinel_failover(tmp_path):
    group = SentinelGroup(tmp_path).start()
    flower = Flower(group.url, tmp_path / "flower.log")
    try:
        fill(redis.Redis(*group.master()), email=2, security=1, webhooks=0)
        page = shows(flower, {"email": 2, "security": 1, "webhooks": 0})
        assert "not supported" not in page
        group.kill_master()
        group.wait_for_promotion()
        fill(redis.Redis(*group.master()), email=0, security=4, webhooks=5)
        assert "not supported" not in shows(flower, {"email": 0, "security": 4, "webhooks": 5})
    finally:
        flower.stop()
        group.stop()
