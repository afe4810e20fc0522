"""The shared cache (scm/cache.py) works on a real Redis and answers misses when Redis is away.

"Away" is a loopback port nobody listens on: the real redis-py client gets a refused connection,
as it does while Redis restarts. The API throttle, which reads and writes this cache in front of
every request, then lets requests through instead of failing them.
"""

from __future__ import annotations

import os

import pytest

from bench.flow_stack import free_port
from scm.cache import DegradingRedisCache


def cache_at(url: str) -> DegradingRedisCache:
    return DegradingRedisCache(url, {"OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}})


def test_a_cache_whose_redis_is_away_answers_misses():
    cache = cache_at(f"redis://127.0.0.1:{free_port()}/0")

    assert cache.get("throttle_integration_1", []) == []
    assert cache.get_many(["a", "b"]) == {}
    assert cache.has_key("a") is False
    assert cache.add("a", 1) is False
    assert cache.set("a", 1) is None
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.touch("a") is False
    assert cache.delete("a") is False
    assert cache.delete_many(["a"]) is None
    assert cache.clear() is False
    with pytest.raises(ValueError):  # incr of a missing key, as Django's contract says
        cache.incr("a")


@pytest.mark.redis
def test_a_cache_on_redis_stores_and_counts(unique):
    cache = cache_at(os.environ["TEST_REDIS_URL"])
    key = f"cache-degrades-{unique}"

    cache.set(key, [1.5, 2.5], 30)
    assert cache.get(key) == [1.5, 2.5]
    assert cache.add(key, "other") is False
    cache.set(f"{key}-n", 1, 30)
    assert cache.incr(f"{key}-n", 2) == 3
    assert cache.delete(key) is True
    assert cache.get(key, "gone") == "gone"
    cache.delete(f"{key}-n")
