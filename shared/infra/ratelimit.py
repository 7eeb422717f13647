"""Sliding-window rate limits in Redis, declared as data (``THROTTLE_RATES``).

Each scope (``reset_ip``, ``reset_email``, ...) keeps, per key, a sorted set of the times of
recent hits. One pipelined round trip trims the window, records the hit and counts it, so
concurrent requests cannot slip past the limit as they can with read-then-write counters.
Keys are keyed hashes: Redis never holds a raw address or IP.

When Redis is unreachable the limit fails open (and says so in the log): refusing every
reset because the rate limiter is down would turn a Redis outage into a full outage, and the
outbox still keeps the events.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import unicodedata
from dataclasses import dataclass

import redis
from django.conf import settings

from shared.infra.redis_client import get_redis

log = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``20/min`` → Rate(20, 60); the unit's first letter counts (s, m, h, d), as in DRF."""
        count, _, unit = text.partition("/")
        return cls(int(count), _PERIODS[unit.strip()[0]])


def normalise_identifier(identifier: str) -> str:
    """The form under which an address or username is counted: NFKC, case-folded, trimmed, so
    ``ALICE@Example.com``, ``alice@example.com`` and a full-width ``ａlice@example.com`` share
    one limit (as Django's reset lookup treats them as one address)."""
    return unicodedata.normalize("NFKC", identifier).casefold().strip()


def rate_for(scope: str) -> Rate | None:
    text = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"].get(scope)
    return Rate.parse(text) if text else None


def _key(scope: str, ident: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), ident.encode(), hashlib.sha256).hexdigest()
    return f"resetpass:rl:{scope}:{digest[:32]}"


def hit(scope: str, ident: str, *, once_for: str | None = None) -> float | None:
    """Count one hit of ``ident`` in ``scope``. None if allowed, else seconds until it would be.

    ``once_for`` names what the hit is for (an event id): hits for the same thing count once,
    so a task that retries does not use up the limit.
    """
    rate = rate_for(scope)
    if rate is None:
        return None
    key = _key(scope, ident)
    now = time.time()
    member = once_for or f"{now:.6f}:{secrets.token_hex(4)}"
    client = get_redis()
    try:
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(key, 0, now - rate.period)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.expire(key, rate.period + 1)
        count = pipe.execute()[2]
        if count <= rate.limit:
            return None
        # Refused hits do not count, so a client that waits Retry-After gets through.
        pipe = client.pipeline(transaction=True)
        pipe.zrem(key, member)
        pipe.zrange(key, 0, 0, withscores=True)
        oldest = pipe.execute()[1]
    except redis.RedisError as exc:
        log.warning("rate limit %s not applied, Redis unavailable: %s", scope, exc)
        return None
    wait = (oldest[0][1] + rate.period - now) if oldest else rate.period
    return max(wait, 0.001)


def record(scope: str, ident: str) -> None:
    """Count one event of ``ident`` in ``scope`` without asking whether it is allowed (a failed
    login, counted after the fact)."""
    rate = rate_for(scope)
    if rate is None:
        return
    key = _key(scope, ident)
    now = time.time()
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.zremrangebyscore(key, 0, now - rate.period)
        pipe.zadd(key, {f"{now:.6f}:{secrets.token_hex(4)}": now})
        pipe.expire(key, rate.period + 1)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("rate limit %s not recorded, Redis unavailable: %s", scope, exc)


def exceeded(scope: str, ident: str) -> float | None:
    """Seconds until ``ident`` falls back under ``scope``'s limit, or None if it is under it
    now. Counts nothing."""
    rate = rate_for(scope)
    if rate is None:
        return None
    key = _key(scope, ident)
    now = time.time()
    try:
        pipe = get_redis().pipeline(transaction=False)
        pipe.zcount(key, now - rate.period, "+inf")
        # The hit whose expiry brings the count back under the limit.
        pipe.zrevrangebyscore(key, "+inf", now - rate.period, start=rate.limit - 1, num=1,
                              withscores=True)  # fmt: skip
        count, boundary = pipe.execute()
    except redis.RedisError as exc:
        log.warning("rate limit %s not applied, Redis unavailable: %s", scope, exc)
        return None
    if count < rate.limit or not boundary:
        return None
    return max(boundary[0][1] + rate.period - now, 0.001)
