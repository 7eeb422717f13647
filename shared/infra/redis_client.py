"""The process's Redis client for rate limits and readiness (Celery keeps its own pool)."""

from __future__ import annotations

import redis
from django.conf import settings
from redis.sentinel import Sentinel

from shared.infra.config import parse_redis_url

_clients: dict[str, redis.Redis] = {}

# Tests put fakeredis's connection class here; production leaves it alone.
connection_class: type | None = None


def get_redis() -> redis.Redis:
    """A pooled client for REDIS_URL. Short timeouts: a request must not hang on Redis.

    With Redis Sentinel (``sentinel://...?master=NAME``), the client's pool asks the sentinels
    where the master is whenever it opens a connection, so after a failover the next command
    reaches the promoted replica; meanwhile commands fail fast (the publisher's outbox and the
    rate limits' fail-open rule cover that moment)."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        options: dict = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
        target = parse_redis_url(url)
        if target.is_sentinel:
            sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=dict(options))
            client = sentinel.master_for(
                target.master, db=target.db, password=target.password, **options
            )
        else:
            if connection_class is not None:
                options["connection_class"] = connection_class
            client = redis.Redis.from_url(url, **options)
        _clients[url] = client
    return client


def reset() -> None:
    """Forget every client (after REDIS_URL changed, in tests)."""
    for client in _clients.values():
        client.close()
    _clients.clear()
