"""Real server processes for integration tests: a Celery worker started like the Procfile's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from shared.accounts.signing_keys import generate_private_key
from tests.brokers import connection_to
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parent.parent


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL naming the database this test process uses (the test database)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or ""
        password = settings_dict.get("PASSWORD") or ""
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"
    raise ValueError(f"no URL form for {engine}")


def worker_env(redis_url: str, smtp_url: str, public_base_url: str, **extra: str) -> dict:
    """The environment of a test worker: this process's test database, secret key and the
    given Redis and SMTP servers."""
    from django.conf import settings
    from django.db import connection

    return {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "EMAIL_URL": smtp_url,
        "SECRET_KEY": settings.SECRET_KEY,
        "PUBLIC_BASE_URL": public_base_url,
        "DB_CONN_MAX_AGE": "0",
        **extra,
    }


class CeleryWorker:
    """``celery -A workers.celery worker`` in its own process, with its own environment."""

    def __init__(
        self,
        env: dict[str, str],
        queues: str = "email,security",
        pool: str = "solo",
        concurrency: int = 1,
    ):
        self.hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
        self.queues = queues.split(",")
        self.env = {**os.environ, **env}
        self.argv = [
            sys.executable, "-m", "celery", "-A", "workers.celery", "worker",
            "--queues", queues, "--pool", pool, "--concurrency", str(concurrency),
            "--hostname", self.hostname, "--without-gossip", "--without-mingle",
            "--loglevel", "INFO",
        ]  # fmt: skip
        fd, path = tempfile.mkstemp(prefix="celery-worker-", suffix=".log")
        os.close(fd)
        self.log_path = Path(path)
        self.process: subprocess.Popen | None = None

    def start(self, app, timeout: float = 60.0) -> CeleryWorker:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command line
                self.argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.output()}")
            if app.control.ping(destination=[self.hostname], timeout=0.5):
                return self
        self.stop()
        raise RuntimeError(f"celery worker did not answer a ping in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until_idle(self, timeout: float = 30) -> bool:
        """Wait until this worker has done everything queued for it so far; whether it did.

        Idle means no message waits in its queues and none of theirs is held unacknowledged:
        tasks are acknowledged when they end, so a held message is a task running or waiting
        for its retry's time. Then a message sent twice would have arrived twice, and "exactly
        one" can be asserted. Two looks in a row must find it idle: a message is in neither
        place for the instant between the worker taking it and holding it."""
        with connection_to(self.env["REDIS_URL"]) as connection:
            channel = connection.default_channel

            def idle() -> bool:
                if any(channel.queue_declare(queue).message_count for queue in self.queues):
                    return False
                with channel.conn_or_acquire() as client:
                    held = client.hvals(channel.unacked_key)
                # Each held message is [message, exchange, routing key]: its queue's name.
                return not any(json.loads(raw)[2] in self.queues for raw in held)

            looks: list[bool] = []

            def idle_twice() -> bool:
                looks.append(idle())
                return looks[-2:] == [True, True]

            return eventually(idle_twice, timeout=timeout, interval=0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Warm shutdown (SIGTERM): the task in hand finishes first."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# Settings read from the environment that a test's subprocess sees at their defaults unless the
# test sets them.
SETTINGS_VARIABLES = {"DEBUG", "SECRET_KEY", "DB_POOL_SIZE", "DB_PREPARE_THRESHOLD", "LOG_LEVEL",
                      "CELERY_TASK_LOGS", "SECURE_HSTS_PRELOAD"}  # fmt: skip
# A key that passes the production checks (50+ characters, random-looking, no placeholder).
PRODUCTION_KEY = "k2V9-q7Rt_u3WxY5zA1bC8dE0fG4hJ6mN2pQ9sT7vX3yZ5aB1cD8eF0gH4j"
# What production must set besides: DEBUG off, a secret key and a JWT signing key.
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": PRODUCTION_KEY,
    "JWT_SIGNING_KEY": generate_private_key("ES256"),
}


def settings_environment(**env: str | None) -> dict[str, str]:
    """This process's environment with the settings variables at their defaults but DEBUG,
    which is on as `make run` and `make test` set it, unless ``env`` says otherwise (a
    variable given as None is left unset)."""
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    merged = {**clean, "DEBUG": "1", **env}
    return {k: v for k, v in merged.items() if v is not None}


def run_with_settings(argv: list[str], **env) -> subprocess.CompletedProcess:
    """Run ``argv`` to its end in ``settings_environment(**env)``."""
    return subprocess.run(argv, cwd=ROOT, env=settings_environment(**env), capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def manage(*args, **env) -> subprocess.CompletedProcess:
    """``python manage.py *args`` in a new process with ``env``."""
    return run_with_settings([sys.executable, "manage.py", *args], **env)


def django_run(code: str, **env) -> subprocess.CompletedProcess:
    """Run ``code`` after ``django.setup()`` in a new process with ``env``; ``settings``,
    ``json`` and ``logging`` are imported for it."""
    setup = "import json, logging, django; django.setup(); from django.conf import settings\n"
    return run_with_settings(
        [sys.executable, "-c", setup + code], DJANGO_SETTINGS_MODULE="api.settings", **env
    )


def django_settings(expression: str, **env) -> subprocess.CompletedProcess:
    """Load the settings in a new process with ``env``; print ``expression`` as JSON (it may
    use ``settings`` and ``logging``)."""
    return django_run(f"print(json.dumps({expression}))", **env)
