"""Retrying transactions the database aborted to resolve a conflict between concurrent ones.

PostgreSQL aborts one transaction of a deadlock (SQLSTATE 40P01) and, under REPEATABLE READ or
SERIALIZABLE, one that lost a write race (40001). Both are transient: run again, the transaction
will most likely get through. `retry_on_conflict` wraps a service that owns its transaction (put it
outside `@transaction.atomic`): on such an error it waits a short, jittered, growing delay and runs
the whole service again, a bounded number of times, then raises `scm.errors.TransientConflict`.

Called inside an outer transaction (a service calling another, a subscriber's handler) it does not
retry: the failed statement aborted the outer transaction too, so only its owner can retry, and the
error goes up unchanged until it reaches one. Services whose lock order is right (docs/ARCHITECTURE.md)
should not deadlock at all; this is the backstop, and `scm_db_conflict_retries` counts every use.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import structlog
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from scm.errors import TransientConflict
from scm.observability import metrics

log = structlog.get_logger(__name__)

DEADLOCK = "40P01"
SERIALIZATION_FAILURE = "40001"
TRANSIENT = {DEADLOCK: "deadlock", SERIALIZATION_FAILURE: "serialization_failure"}

P = ParamSpec("P")
R = TypeVar("R")


def conflict_kind(exc: BaseException) -> str | None:
    """'deadlock' or 'serialization_failure' when the database aborted for that reason, else None."""
    while exc is not None:
        code = getattr(exc, "pgcode", None) or getattr(getattr(exc, "diag", None), "sqlstate", None)
        if code in TRANSIENT:
            return TRANSIENT[code]
        exc = exc.__cause__ or exc.__context__
    return None


def backoff(attempt: int) -> float:
    """Full jitter: a random delay up to base * 2^(attempt-1), capped."""
    ceiling = min(settings.DB_CONFLICT_RETRY_CAP_SECONDS, settings.DB_CONFLICT_RETRY_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(0, ceiling)


def _gave_up(name: str, kind: str, attempts: int) -> TransientConflict:
    metrics.db_conflict_retries.labels(kind=kind, outcome="gave_up").inc()
    log.warning("db.conflict_gave_up", service=name, kind=kind, attempts=attempts)
    return TransientConflict(
        f"{name} was aborted by a {kind.replace('_', ' ')} {attempts} times in a row; try again.",
        retry_after=1,
        kind=kind,
        attempts=attempts,
    )


def retry_on_conflict(func: Callable[P, R] | None = None, *, using: str = DEFAULT_DB_ALIAS):
    """Decorate a service that owns its transaction; see the module docstring."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        name = f"{service.__module__}.{service.__qualname__}"

        @functools.wraps(service)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            if connections[using].in_atomic_block:
                return service(*args, **kwargs)
            attempts, attempt = max(1, settings.DB_CONFLICT_ATTEMPTS), 1
            while True:
                try:
                    return service(*args, **kwargs)
                except DatabaseError as exc:
                    kind = conflict_kind(exc)
                    if kind is None:
                        raise
                    if attempt >= attempts:
                        raise _gave_up(name, kind, attempts) from exc
                    metrics.db_conflict_retries.labels(kind=kind, outcome="retried").inc()
                    delay = backoff(attempt)
                    log.info("db.conflict_retry", service=name, kind=kind, attempt=attempt, retry_in=round(delay, 3))
                    time.sleep(delay)
                    attempt += 1

        return run

    return decorate(func) if func is not None else decorate
