"""Running test code on real concurrent database connections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_threads(count: int, target) -> list:
    """Start `count` threads on `target(index)` behind a barrier, each with its own connection;
    return their results in index order."""
    barrier = threading.Barrier(count)

    def wrapped(index: int):
        try:
            barrier.wait(timeout=30)
            return target(index)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(wrapped, range(count)))
