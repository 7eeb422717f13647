"""DRF throttles over ``shared.infra.ratelimit``: per client IP, per user, per API key. 429 with
Retry-After."""

from __future__ import annotations

from rest_framework.throttling import BaseThrottle

from api.api_keys import ADMIN_KEY_PARSER
from api.request_origin import rate_limit_ip
from shared.infra import ratelimit


class RedisRateThrottle(BaseThrottle):
    scope: str = ""

    def ident(self, request) -> str | None:
        return rate_limit_ip(request)

    def allow_request(self, request, view) -> bool:
        ident = self.ident(request)
        self._wait = None if ident is None else ratelimit.hit(self.scope, ident)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class ResetIPThrottle(RedisRateThrottle):
    scope = "reset_ip"


class ConfirmIPThrottle(RedisRateThrottle):
    scope = "confirm_ip"


class CodeIPThrottle(RedisRateThrottle):
    scope = "code_ip"


class LoginIPThrottle(RedisRateThrottle):
    scope = "login_ip"


class ChangeUserThrottle(RedisRateThrottle):
    scope = "change_user"

    def ident(self, request) -> str | None:
        user = getattr(request, "user", None)
        return f"user:{user.pk}" if user is not None and user.is_authenticated else None


class AdminKeyThrottle(RedisRateThrottle):
    """Admin API requests per API key (its public prefix); runs after the key was checked."""

    scope = "admin_key"

    def ident(self, request) -> str | None:
        key = ADMIN_KEY_PARSER.get(request)
        return f"key:{key.partition('.')[0]}" if key else None
