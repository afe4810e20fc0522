"""The shared cache degrades to misses instead of failing requests while Redis is away.

Only disposable things live in the cache (today the API's rate-limit counters, scm/api/throttling.py),
yet the throttle reads and writes it in front of every API request: with Django's RedisCache a Redis
restart turned each request, order creation included, into a 500, though an order needs only
PostgreSQL. Django's built-in backend has no IGNORE_EXCEPTIONS (that is django-redis), so this
subclass treats a Redis error as a miss: reads return their default, writes store nothing. Rate
limits fail open for the outage and count afresh once Redis is back. Nothing whose loss matters
may live in this cache. The socket timeouts in settings bound the wait for a Redis that hangs, and
after one failure the cache leaves Redis alone for a few seconds (scm/redis_pause.py).
"""

from __future__ import annotations

import functools
import logging
import time

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from scm import redis_pause

log = logging.getLogger(__name__)

WARN_EVERY_SECONDS = 10.0  # one warning per process per interval, not one per request
_warned_at = 0.0


def _degrades(method, miss):
    """`method`, answering `miss(*args, **kwargs)` when Redis fails it or is paused."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        global _warned_at
        if not redis_pause.paused():
            try:
                return method(self, *args, **kwargs)
            except RedisError as exc:
                redis_pause.failed()
                if time.monotonic() - _warned_at >= WARN_EVERY_SECONDS:
                    _warned_at = time.monotonic()
                    log.warning("cache %s failed (%s); misses while Redis is away", method.__name__, exc)
        return miss(*args, **kwargs)

    return call


def _not_found(key, *args, **kwargs):
    raise ValueError(f"Key '{key}' not found (the cache is unavailable)")  # Django's incr of a missing key


class DegradingRedisCache(RedisCache):
    get = _degrades(RedisCache.get, lambda key, default=None, version=None: default)
    get_many = _degrades(RedisCache.get_many, lambda *args, **kwargs: {})
    has_key = _degrades(RedisCache.has_key, lambda *args, **kwargs: False)
    add = _degrades(RedisCache.add, lambda *args, **kwargs: False)
    set = _degrades(RedisCache.set, lambda *args, **kwargs: None)
    set_many = _degrades(RedisCache.set_many, lambda data, *args, **kwargs: list(data))  # the keys not stored
    touch = _degrades(RedisCache.touch, lambda *args, **kwargs: False)
    incr = _degrades(RedisCache.incr, _not_found)
    delete = _degrades(RedisCache.delete, lambda *args, **kwargs: False)
    delete_many = _degrades(RedisCache.delete_many, lambda *args, **kwargs: None)
    clear = _degrades(RedisCache.clear, lambda *args, **kwargs: False)
