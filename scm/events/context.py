"""Who and what caused the events being appended: correlation id, causation id and actor.

Set once at the edge (HTTP middleware, Celery task start, management command) and picked up by
every append and log line below it, so one request's events and logs share one correlation id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)
_actor: ContextVar[str | None] = ContextVar("actor", default=None)
# Resolves the actor only when an event is appended: DRF authenticates inside the view, after the
# middleware that opens the request's context has run (see scm.observability.middleware).
_actor_resolver: ContextVar[Callable[[], str | None] | None] = ContextVar("actor_resolver", default=None)
# More metadata from elsewhere (tracing adds trace_id and traceparent); empty unless someone registers.
_metadata_sources: list[Callable[[], dict[str, str]]] = []


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_metadata() -> dict[str, str]:
    values = {
        "correlation_id": _correlation_id.get(),
        "causation_id": _causation_id.get(),
        "actor": current_actor(),
    }
    for source in _metadata_sources:
        values.update(source())
    return {key: value for key, value in values.items() if value}


def add_metadata_source(source: Callable[[], dict[str, str]]) -> None:
    """Every event appended from now on also carries `source()`'s keys (unless they are empty)."""
    if source not in _metadata_sources:
        _metadata_sources.append(source)


def remove_metadata_source(source: Callable[[], dict[str, str]]) -> None:
    if source in _metadata_sources:
        _metadata_sources.remove(source)


def current_actor() -> str | None:
    """The actor set explicitly, else the one the active resolver finds (e.g. the request's user)."""
    actor = _actor.get()
    if actor:
        return actor
    resolver = _actor_resolver.get()
    return resolver() if resolver is not None else None


def current_correlation_id() -> str | None:
    return _correlation_id.get()


@contextmanager
def event_context(
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    actor: str | None = None,
) -> Iterator[None]:
    """Within the block, appended events carry these values (unset ones are inherited)."""
    tokens = []
    for var, value in ((_correlation_id, correlation_id), (_causation_id, causation_id), (_actor, actor)):
        if value is not None:
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@contextmanager
def actor_resolver(resolver: Callable[[], str | None]) -> Iterator[None]:
    """Within the block, events with no explicit actor take `resolver()`, called at append time."""
    token = _actor_resolver.set(resolver)
    try:
        yield
    finally:
        _actor_resolver.reset(token)
