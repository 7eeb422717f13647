"""Pointing this test process's Celery app, cache and readiness probe at a given Redis."""

from __future__ import annotations

import kombu.pools
from django.conf import settings
from kombu import Connection

from shared.infra import redis_client
from shared.messaging.celery_app import app, broker_for, use_broker


def use_redis(url: str) -> None:
    """Make publishing, rate limits and /readyz use the Redis at ``url`` from now on."""
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    use_broker(url)
    reset_connections()


def reset_connections() -> None:
    """Drop pooled broker and Redis connections, so the next use opens new ones."""
    kombu.pools.reset()  # kombu keeps producer pools per broker URL, process-wide
    app._pool = None
    app.amqp._producer_pool = None
    redis_client.reset()


def connection_to(url: str, **transport_options) -> Connection:
    """A kombu connection to the Redis ``url`` names, made as a worker's is (a sentinel URL
    included); ``transport_options`` override the workers' own."""
    broker_url, transport, options = broker_for(url)
    return Connection(broker_url, transport=transport,
                      transport_options={**options, **transport_options})  # fmt: skip
