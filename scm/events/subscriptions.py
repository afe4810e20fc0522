"""Named subscribers that follow the log by position with a stored checkpoint.

A handler receives one RecordedEvent at a time, in position order. Each event is handled in its
own transaction together with the checkpoint move, so a handler's database writes and the
checkpoint commit or roll back together. A handler that raises leaves the checkpoint before the
failing event and records the error; the next run retries it (at-least-once). Handlers must be
idempotent, since side effects outside the database (HTTP calls) can repeat.

Only one process handles a given subscription at a time: the subscription row is locked with
SKIP LOCKED, so a second worker skips it instead of waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import transaction

from scm.events.context import event_context
from scm.events.models import Subscription
from scm.events.store import RecordedEvent, read_all
from scm.observability import tracing

log = structlog.get_logger(__name__)

Handler = Callable[[RecordedEvent], None]


@dataclass(frozen=True)
class Subscriber:
    name: str
    handler: Handler
    types: frozenset[str] | None = None


_registry: dict[str, Subscriber] = {}


def register(name: str, handler: Handler, *, types: Iterable[str] | None = None) -> None:
    """Register a handler under a stable name (the checkpoint is stored under that name)."""
    _registry[name] = Subscriber(name=name, handler=handler, types=frozenset(types) if types else None)


def unregister(name: str) -> None:
    _registry.pop(name, None)


def registered() -> list[Subscriber]:
    return list(_registry.values())


@dataclass(frozen=True)
class RunResult:
    name: str
    handled: int
    checkpoint: int
    error: str = ""
    skipped: bool = False


def process(subscriber: Subscriber, *, batch_size: int | None = None) -> RunResult:
    """Feed the subscriber the events after its checkpoint, up to one batch.

    Each handled event commits in its own short transaction with the checkpoint move, so a
    handler that appends events holds the log's append lock only for its own event.
    """
    batch_size = batch_size or settings.EVENT_SUBSCRIPTION_BATCH
    state, _ = Subscription.objects.get_or_create(name=subscriber.name)
    checkpoint = state.checkpoint
    handled = 0
    while handled < batch_size:
        events = read_all(after=checkpoint, limit=min(200, batch_size - handled))
        if not events:
            break
        for event in events:
            wanted = subscriber.types is None or event.type in subscriber.types
            if not wanted and event is not events[-1]:
                continue
            outcome = _advance(subscriber, event, handle=wanted)
            if outcome is None:
                return RunResult(subscriber.name, handled, checkpoint, skipped=True)
            checkpoint, error = outcome
            if error:
                return RunResult(subscriber.name, handled, checkpoint, error=error)
            handled += int(wanted)
    return RunResult(subscriber.name, handled, checkpoint)


def _advance(subscriber: Subscriber, event: RecordedEvent, *, handle: bool) -> tuple[int, str] | None:
    """Handle one event (if wanted) and move the checkpoint to it, in one transaction.

    Returns None when another worker holds the subscription, else (checkpoint, error).
    """
    with transaction.atomic():
        state = Subscription.objects.select_for_update(skip_locked=True).filter(name=subscriber.name).first()
        if state is None:
            return None
        if state.checkpoint >= event.position:
            return state.checkpoint, ""
        error = _handle_one(subscriber, event) if handle else ""
        if error:
            state.last_error = error
            state.failed_position = event.position
            state.failure_count += 1
        else:
            state.checkpoint = event.position
            state.processed_count += int(handle)
            if state.failed_position is not None:
                state.last_error, state.failed_position, state.failure_count = "", None, 0
        state.save()
        return state.checkpoint, error


def _handle_one(subscriber: Subscriber, event: RecordedEvent) -> str:
    """Run the handler in a savepoint; return the error text, or "" on success."""
    try:
        with transaction.atomic(), tracing.continue_trace(event.metadata.get("traceparent")):
            with event_context(
                correlation_id=event.metadata.get("correlation_id"),
                causation_id=str(event.event_id),
                actor=f"subscriber:{subscriber.name}",
            ):
                subscriber.handler(event)
    except Exception as exc:  # noqa: BLE001 - any handler failure is recorded and retried later
        log.warning(
            "subscription.handler_failed",
            subscription=subscriber.name,
            position=event.position,
            event_type=event.type,
            error=repr(exc),
        )
        return f"position {event.position} ({event.type}): {exc!r}"
    return ""


def process_all(*, batch_size: int | None = None) -> list[RunResult]:
    return [process(subscriber, batch_size=batch_size) for subscriber in registered()]


def lag(name: str) -> int:
    """How many events the subscriber still has to read (gaps in positions do not count)."""
    from scm.events.models import Event

    state = Subscription.objects.filter(name=name).first()
    return Event.objects.filter(position__gt=state.checkpoint if state else 0).count()
