"""Flower, started with the Procfile's own command, shows the broker's queues: against one
Redis, and against a Redis Sentinel group before and after its master is killed."""

from __future__ import annotations

import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

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
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                return False

        assert eventually(fetched, timeout=timeout, interval=0.3), "Broker page never answered"
        return pages[-1]

    def stop(self) -> None:
        stop_process(self.process)
        self.log.close()


def shows_every_queue(page: str) -> bool:
    return all(f"<td>{queue}</td>" in page for queue in ("email", "security", "webhooks"))


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def test_flower_shows_the_queues_of_one_redis(redis_server, tmp_path):
    flower = Flower(redis_server.url, tmp_path / "flower.log")
    try:
        assert shows_every_queue(flower.broker_page())
    finally:
        flower.stop()


def test_flower_follows_a_sentinel_failover(tmp_path):
    group = SentinelGroup(tmp_path).start()
    flower = Flower(group.url, tmp_path / "flower.log")
    try:
        assert shows_every_queue(flower.broker_page())
        group.kill_master()
        group.wait_for_promotion()
        assert shows_every_queue(flower.broker_page())
    finally:
        flower.stop()
        group.stop()
