"""Liveness and readiness probes."""

from __future__ import annotations

import redis
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from shared.infra.redis_client import get_redis


@never_cache
@require_GET
def healthz(request):
    """The process is alive and serving requests; says nothing of its dependencies."""
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:
        return False


def _redis_ok() -> bool:
    try:
        return bool(get_redis().ping())
    except redis.RedisError:
        return False


@never_cache
@require_GET
def readyz(request):
    """Ready for traffic: the database and Redis both answer. 503 names what does not."""
    checks = {
        "database": "ok" if _database_ok() else "unavailable",
        "redis": "ok" if _redis_ok() else "unavailable",
    }
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
