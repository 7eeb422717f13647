"""The process's Redis client for rate limits and readiness (Celery keeps its own pool)."""

from __future__ import annotations

import redis
from django.conf import settings

_clients: dict[str, redis.Redis] = {}

# Tests put fakeredis's connection class here; production leaves it alone.
connection_class: type | None = None


def get_redis() -> redis.Redis:
    """A pooled client for REDIS_URL. Short timeouts: a request must not hang on Redis."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        options: dict = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        if connection_class is not None:
            options["connection_class"] = connection_class
        client = _clients[url] = redis.Redis.from_url(url, **options)
    return client


def reset() -> None:
    """Forget every client (after REDIS_URL changed, in tests)."""
    for client in _clients.values():
        client.close()
    _clients.clear()
