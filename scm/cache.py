"""The shared cache degrades to misses instead of failing requests while Redis is away.

Only disposable things live in the cache (today the API's rate-limit counters, scm/api/throttling.py),
yet the throttle reads and writes it in front of every API request: with Django's RedisCache a Redis
restart turned each request, order creation included, into a 500, though an order needs only
PostgreSQL. Django's built-in backend has no IGNORE_EXCEPTIONS (that is django-redis), so this
subclass treats a Redis error as a miss: reads return their default, writes store nothing. Rate
limits fail open for the outage and count afresh once Redis is back. Nothing whose loss matters
may live in this cache. The connection and socket timeouts in settings bound how long a request
waits for a Redis that does not answer.
"""

from __future__ import annotations

import logging
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 10.0  # one warning per process per interval, not one per request


class DegradingRedisCache(RedisCache):
    _warned_at = 0.0

    def _degraded(self, operation: str, exc: RedisError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("cache %s failed (%s); treated as a miss while Redis is away", operation, exc)

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except RedisError as exc:
            self._degraded("get", exc)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except RedisError as exc:
            self._degraded("get_many", exc)
            return {}

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except RedisError as exc:
            self._degraded("has_key", exc)
            return False

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except RedisError as exc:
            self._degraded("add", exc)
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except RedisError as exc:
            self._degraded("set", exc)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().set_many(data, timeout, version)
        except RedisError as exc:
            self._degraded("set_many", exc)
            return list(data)  # Django's contract: the keys that were not stored

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().touch(key, timeout, version)
        except RedisError as exc:
            self._degraded("touch", exc)
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except RedisError as exc:
            self._degraded("incr", exc)
            raise ValueError(f"Key '{key}' not found (the cache is unavailable)") from exc

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except RedisError as exc:
            self._degraded("delete", exc)
            return False

    def delete_many(self, keys, version=None):
        try:
            super().delete_many(keys, version)
        except RedisError as exc:
            self._degraded("delete_many", exc)

    def clear(self):
        try:
            return super().clear()
        except RedisError as exc:
            self._degraded("clear", exc)
            return False
