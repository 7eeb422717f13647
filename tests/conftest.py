"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import gc
import os
import shutil
import time
from datetime import UTC, datetime

import fakeredis
import kombu.transport.redis
import pytest

from tests.brokers import reset_connections, use_redis


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database of its own for each mutant's test run: ``make mutate`` runs two at a
    time, and two runs sharing one SQLite file destroy each other's tables (every mutant then
    counts as killed, whatever it does)."""
    from django.db import connection

    test = connection.settings_dict["TEST"]
    if "MUTANT_UNDER_TEST" in os.environ and test.get("NAME"):
        test["NAME"] = f"{test['NAME']}.{os.getpid()}"


def pytest_configure(config):
    if "MUTANT_UNDER_TEST" in os.environ:
        # mutmut runs each mutant's tests in a process forked from one that has run them all,
        # and pytest collects garbage several times as a session ends: over that inherited
        # heap, 0.3 s a run. Frozen objects are left out of every collection.
        gc.freeze()


if os.environ.get("MUTATION_DB_TEMPLATE"):

    @pytest.fixture(scope="session")
    def django_db_setup(django_db_blocker):
        """``make mutate`` migrates one SQLite database before it starts; each mutant's test run
        works on a copy of its own instead of migrating one (half a second, 1100 times)."""
        from django.conf import settings
        from django.db import connections

        copy = f"{os.environ['MUTATION_DB_TEMPLATE']}.{os.getpid()}"
        shutil.copyfile(os.environ["MUTATION_DB_TEMPLATE"], copy)
        connections["default"].close()
        for database in (settings.DATABASES["default"], connections["default"].settings_dict):
            database["NAME"] = copy
        yield
        connections["default"].close()
        os.remove(copy)


@pytest.fixture
def fake_redis(monkeypatch, settings):
    """A fakeredis server standing in for Redis everywhere in this process: the Celery
    broker, rate limits and the readiness probe. Yields a client to inspect it; set
    ``.server.connected = False`` on it to play a Redis outage."""
    server = fakeredis.FakeServer()

    class FakeConnection(fakeredis.FakeRedisConnection):
        def __init__(self, *args, **kwargs):
            kwargs["server"] = server
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(kombu.transport.redis.Channel, "connection_class", FakeConnection)
    monkeypatch.setattr("shared.infra.redis_client.connection_class", FakeConnection)
    use_redis("redis://fake-redis:6379/0")
    client = fakeredis.FakeRedis(server=server)
    client.server = server
    yield client
    reset_connections()


def queued_messages(client, queue: str) -> list[dict]:
    """The task messages waiting in ``queue``, decoded: what a worker would receive."""
    import base64
    import json

    messages = []
    for raw in client.lrange(queue, 0, -1):
        envelope = json.loads(raw)
        body = json.loads(base64.b64decode(envelope["body"]))
        messages.append({"headers": envelope["headers"], "args": body[0][0]})
    return messages


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness buys nothing in tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def _static_files_looked_up_when_asked():
    """WhiteNoise, serving from the apps' finders (``WHITENOISE_USE_FINDERS``), lists every
    static file each time its middleware is built: once per process in production, but once
    per test ``Client`` here, 70 ms each (an 18-second test made 736 of them). Its documented
    ``WHITENOISE_AUTOREFRESH`` finds a file when one is asked for instead; the servers the
    integration tests start keep the production setting."""
    from django.conf import settings

    settings.WHITENOISE_AUTOREFRESH = True


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Each test starts with no rate-limit history in the Redis that REDIS_URL names (CI's
    real one keeps keys between tests: ten failed logins spread over the suite would lock
    an account in a later test). Nothing to clear when no Redis answers there."""
    from redis.exceptions import RedisError

    from shared.infra.redis_client import get_redis

    try:
        client = get_redis()
        keys = list(client.scan_iter("resetpass:rl:*", count=1000))
        if keys:
            client.delete(*keys)
    except RedisError:
        pass


@pytest.fixture(autouse=True)
def _no_breach_lookups(settings):
    """Tests send no traffic off this machine: the Pwned Passwords check is off unless a test
    points PWNED_PASSWORDS_URL at a local server of its own."""
    settings.PWNED_PASSWORDS_URL = "off"


@pytest.fixture(autouse=True)
def _no_webhook_lookups(monkeypatch):
    """Tests look no name up for a webhook: in this process, only IP literals resolve (tests
    that need a name stub ``shared.messaging.webhooks.getaddrinfo`` themselves)."""
    import socket

    def numeric_only(host, port, *args, **kwargs):
        return socket.getaddrinfo(host, port, *args, flags=socket.AI_NUMERICHOST)

    monkeypatch.setattr("shared.messaging.webhooks.getaddrinfo", numeric_only)


@pytest.fixture
def alice(db):
    """An account: username ``alice``, address alice@example.com, password factories.PASSWORD."""
    from tests.factories import make_user

    return make_user()


def set_rates(settings, **rates):
    """Override THROTTLE_RATES scopes for one test (``reset_ip="3/min"``, or None for off)."""
    current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**current, **rates},
    }


@pytest.fixture
def receiver():
    """A webhook receiver on a free loopback port that checks every signature
    (tests/webhook_receiver.py), stopped after the test."""
    from tests.webhook_receiver import Receiver

    server = Receiver().start()
    yield server
    server.stop()


def pytest_sessionfinish(session, exitstatus):
    """With CI=true a skipped test fails the run: CI has every service a test needs (the
    machine's PostgreSQL, chromium), so a skip there means a test that did not run."""
    if os.environ.get("CI", "").lower() != "true" or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.ensure_newline()
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) skipped; in CI every test must run:", red=True
        )
        for report in skipped:
            reporter.write_line(f"  {report.nodeid}: {report.longrepr[-1]}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config, items):
    """Deselect (not skip) the tests marked ``without_postgres_only`` when the suite's own
    database is PostgreSQL: they re-run PostgreSQL-only tests on an embedded PostgreSQL, which
    proves nothing more where those tests ran on PostgreSQL already."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return
    kept = [item for item in items if not item.get_closest_marker("without_postgres_only")]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture
def clock(time_machine):
    """Every clock of this process (``time.time``, ``datetime.now``, PyJWT's, the fake Redis's
    key expiry) stopped on a whole second, as tokens and rate limits count from it, and moved
    on only by ``clock.shift(seconds)``: no test waits for time to pass, or fails because a
    busy machine took a second more."""
    time_machine.move_to(datetime.fromtimestamp(int(time.time()), tz=UTC), tick=False)
    return time_machine
