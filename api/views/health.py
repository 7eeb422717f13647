"""Liveness and readiness probes."""

from __future__ import annotations

import redis
from django.db import connection
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from api.errors import RETRY_AFTER_SECONDS, error_body, json_response
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
    """Ready for traffic: the database and Redis both answer. 503 names what does not, and
    is an error body like the API's (``detail``, ``code``) besides."""
    checks = {
        "database": "ok" if _database_ok() else "unavailable",
        "redis": "ok" if _redis_ok() else "unavailable",
    }
    if all(value == "ok" for value in checks.values()):
        return json_response({"status": "ready", "checks": checks}, 200)
    down = ", ".join(name for name, value in checks.items() if value != "ok")
    body = error_body(_("Not ready: %(down)s unavailable.") % {"down": down}, "not_ready")
    response = json_response({**body, "status": "unavailable", "checks": checks}, 503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
