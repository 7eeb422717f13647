"""Pointing this test process's Celery app, cache and readiness probe at a given Redis."""

from __future__ import annotations

import contextlib

import kombu.pools
from django.conf import settings
from django.core.cache import caches

from shared.broker import app


def use_redis(url: str) -> None:
    """Make publishing, the cache and /readyz use the Redis at ``url`` from now on."""
    settings.REDIS_URL = url
    settings.CELERY_BROKER_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    app.conf.broker_url = url
    reset_connections()


def reset_connections() -> None:
    """Drop pooled broker and cache connections, so the next use opens new ones."""
    kombu.pools.reset()  # kombu keeps producer pools per broker URL, process-wide
    app._pool = None
    app.amqp._producer_pool = None
    for alias in list(getattr(caches, "_settings", {}) or {}):
        with contextlib.suppress(KeyError, AttributeError):
            del caches[alias]
