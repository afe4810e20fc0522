"""Running test code on real concurrent database connections."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def run_threads(count: int, target, *, timeout: float = 120) -> list:
    """Start `count` threads on `target(index)` behind a barrier, each with its own connection;
    return their results in index order. An exception in a thread is raised here; threads still
    running after `timeout` seconds fail the test (TimeoutError)."""
    barrier = threading.Barrier(count)

    def wrapped(index: int):
        try:
            barrier.wait(timeout=30)
            return target(index)
        finally:
            connection.close()

    pool = ThreadPoolExecutor(max_workers=count)
    try:
        return list(pool.map(wrapped, range(count), timeout=timeout))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
