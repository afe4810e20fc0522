"""Appending to and reading from the event log.

Ordering guarantee: on PostgreSQL every append takes one transaction-scoped advisory lock before
its rows get their positions, and keeps it until the transaction ends (the database function
`scm_append_events`, migration 0003, does lock, version check and insert in one round trip;
`scm_append_events_many`, migration 0005, the same for several streams at once). So transactions
that append commit in position order, and a reader that has seen position N can never later find a committed
event below N: following the log by `after=<position>` never skips an event. (SQLite serialises
all writers, which gives the same guarantee.)

The price is that appends are serialised from the first append to commit. Services therefore take
their row locks first and append last, and keep the time between append and commit short. A
transaction that appends and then waits on a row lock held by another appender deadlocks, and
PostgreSQL breaks that by aborting one of them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from scm import raw_sql
from scm.events import schemas
from scm.events.context import current_metadata
from scm.events.exceptions import ConcurrencyError
from scm.events.models import Event

ANY: None = None
"""expected_version meaning: append whatever version the stream is at."""
NO_STREAM = 0
"""expected_version meaning: the stream must not exist yet."""

APPEND_LOCK_KEY = 7_466_510_001


@dataclass(frozen=True)
class NewEvent:
    type: str
    payload: dict
    occurred_at: datetime | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    event_id: uuid.UUID
    stream: str
    version: int
    type: str
    schema_version: int
    payload: dict
    metadata: dict
    occurred_at: datetime
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: Event) -> RecordedEvent:
        schema_version, payload = schemas.upcast(row.type, row.schema_version, row.payload)
        return cls(
            position=row.position,
            event_id=row.event_id,
            stream=row.stream,
            version=row.version,
            type=row.type,
            schema_version=schema_version,
            payload=payload,
            metadata=row.metadata,
            occurred_at=row.occurred_at,
            recorded_at=row.recorded_at,
        )


def append(
    stream: str,
    events: Sequence[NewEvent],
    *,
    expected_version: int | None = ANY,
    writes_first: Sequence[raw_sql.Statement] = (),
) -> list[RecordedEvent]:
    """Append events to a stream inside the caller's transaction.

    Raises EventValidationError (a payload breaks its schema) or ConcurrencyError (the stream is
    not at `expected_version`); in both cases none of the events is written. `writes_first` are the
    caller's last writes (no results read, no row locks: the append comes last), sent in the same
    round trip just before the append, once the events are valid.
    """
    if not events:
        raw_sql.execute_together(writes_first)
        return []
    validated = _validated(events)
    # Inside the caller's transaction no savepoint is needed: errors are raised before any write.
    with nullcontext() if connection.in_atomic_block else transaction.atomic():
        rows = _rows(stream, validated, timezone.now(), current_metadata())
        if connection.vendor == "postgresql":
            _insert_in_one_round_trip(stream, rows, expected_version, writes_first)
        else:
            raw_sql.execute_together(writes_first)
            _insert_from_python(stream, rows, expected_version)
        dispatch_after_commit()
    return [RecordedEvent.from_row(row) for row in rows]


@dataclass(frozen=True)
class Dependent:
    """Rows of `model` that name appended events, inserted by the same statement as the append (the stock
    ledger's rows name the event that moved the stock). Each row gives the values of `fields` (attribute
    names) and, last, which event it names: its 1-based index in the append's order (all batches, in
    order); the event's position goes to the field `position_field`."""

    model: type
    fields: Sequence[str]
    position_field: str
    rows: Sequence[Sequence]

    def values(self) -> list:
        """Each row's prepared values, its event index and its own index (the insert keeps the order), flat."""
        prepared = raw_sql.prepared(self.model, self.fields, [row[:-1] for row in self.rows])
        width = len(self.fields)
        return [
            value for n, row in enumerate(self.rows) for value in (*prepared[n * width : (n + 1) * width], row[-1], n)
        ]


def append_streams(
    batches: Sequence[tuple[str, Sequence[NewEvent]]], *, dependent: Dependent | None = None
) -> list[list[RecordedEvent]]:
    """Append to several streams at once, each at whatever version it is (`ANY`): the same events, in
    the same order (positions), as one `append` per stream, but in one round trip on PostgreSQL (the
    `scm_append_events_many` function, migration 0005: one append lock, one insert), together with the
    `dependent` rows (one statement: nothing more runs between taking the append lock and the caller's
    next step). Returns the recorded events per batch. Raises EventValidationError before writing anything."""
    validated = [(stream, _validated(events)) for stream, events in batches]
    if not any(events for _, events in validated):
        return [[] for _ in validated]
    with nullcontext() if connection.in_atomic_block else transaction.atomic():
        now, context_metadata = timezone.now(), current_metadata()
        rows = [_rows(stream, events, now, context_metadata) for stream, events in validated]
        every = [row for stream_rows in rows for row in stream_rows]
        if connection.vendor == "postgresql":
            _insert_streams_in_one_round_trip(every, dependent)
        else:
            for (stream, _), stream_rows in zip(validated, rows, strict=True):
                if stream_rows:
                    _insert_from_python(stream, stream_rows, ANY)
            if dependent is not None:
                positions = [row.position for row in every]
                named = [(*values[:-1], positions[values[-1] - 1]) for values in dependent.rows]
                fields = [*dependent.fields, dependent.position_field]
                raw_sql.execute_together([raw_sql.insert_statement(dependent.model, fields, named)])
        dispatch_after_commit()
    return [[RecordedEvent.from_row(row) for row in stream_rows] for stream_rows in rows]


def append_one(
    stream: str,
    event_type: str,
    payload: dict,
    *,
    expected_version: int | None = ANY,
    occurred_at: datetime | None = None,
) -> RecordedEvent:
    return append(
        stream,
        [NewEvent(type=event_type, payload=payload, occurred_at=occurred_at)],
        expected_version=expected_version,
    )[0]


def _validated(events: Sequence[NewEvent]) -> list[tuple[NewEvent, int]]:
    return [(event, schemas.validate_payload(event.type, event.payload)) for event in events]


def _rows(stream: str, validated: list[tuple[NewEvent, int]], now: datetime, context_metadata: dict) -> list[Event]:
    return [
        Event(
            stream=stream,
            type=event.type,
            schema_version=schema_version,
            payload=event.payload,
            metadata={**context_metadata, **event.metadata},
            occurred_at=event.occurred_at or now,
            recorded_at=now,
        )
        for event, schema_version in validated
    ]


def _insert_from_python(stream: str, rows: list[Event], expected_version: int | None) -> None:
    """SQLite: versions from the stream's head (its writers are serialised), then one insert."""
    current = stream_version(stream)
    if expected_version is not None and current != expected_version:
        raise ConcurrencyError(stream=stream, expected_version=expected_version, actual_version=current)
    for offset, row in enumerate(rows, start=1):
        row.version = current + offset
    Event.objects.bulk_create(rows)


def _columns(rows: list[Event]) -> list:
    """The per-event arrays both database functions take, in their argument order."""
    return [
        [str(row.event_id) for row in rows],
        [row.type for row in rows],
        [row.schema_version for row in rows],
        [json.dumps(row.payload, cls=DjangoJSONEncoder) for row in rows],
        [json.dumps(row.metadata, cls=DjangoJSONEncoder) for row in rows],
        [row.occurred_at for row in rows],
    ]


def _insert_in_one_round_trip(
    stream: str, rows: list[Event], expected_version: int | None, writes_first: Sequence[raw_sql.Statement] = ()
) -> None:
    """Lock, check the version and insert with the `scm_append_events` database function (after the
    caller's `writes_first`, in the same round trip)."""
    call = (
        "SELECT event_position, event_version, current_version FROM scm_append_events("
        "%s, %s, %s, %s::uuid[], %s::text[], %s::integer[], %s::jsonb[], %s::jsonb[], %s::timestamptz[], %s)",
        [stream, expected_version, APPEND_LOCK_KEY, *_columns(rows), rows[0].recorded_at],
    )
    result = raw_sql.fetch_last([*writes_first, call])
    if result and result[0][0] is None:
        raise ConcurrencyError(stream=stream, expected_version=expected_version, actual_version=result[0][2])
    _recorded(rows, [(position, version) for position, version, _ in result])


def _insert_streams_in_one_round_trip(rows: list[Event], dependent: Dependent | None = None) -> None:
    """Lock and insert the events of several streams with the `scm_append_events_many` database function,
    and the dependent rows with the positions it returns, in one statement."""
    call = (
        "scm_append_events_many("
        "%s, %s::text[], %s::uuid[], %s::text[], %s::integer[], %s::jsonb[], %s::jsonb[], %s::timestamptz[], %s)"
    )
    params = [APPEND_LOCK_KEY, [row.stream for row in rows], *_columns(rows), rows[0].recorded_at]
    with connection.cursor() as cursor:
        if dependent is None:
            cursor.execute(f"SELECT event_position, event_version FROM {call}", params)
        else:
            meta = dependent.model._meta
            columns = [meta.get_field(name).column for name in (*dependent.fields, dependent.position_field)]
            names = [f"c{i}" for i in range(len(dependent.fields))]
            values = ", ".join(["(" + ", ".join(["%s"] * (len(names) + 2)) + ")"] * len(dependent.rows))
            cursor.execute(
                f"WITH appended AS (SELECT a.event_position, a.event_version, a.n FROM {call} "
                "WITH ORDINALITY AS a(event_position, event_version, n)), "
                f"v({', '.join(names)}, n, k) AS (VALUES {values}), "
                f"dependent AS (INSERT INTO {meta.db_table} ({', '.join(columns)}) "
                f"SELECT {', '.join(f'v.{name}' for name in names)}, appended.event_position "
                "FROM v JOIN appended ON appended.n = v.n ORDER BY v.k) "
                "SELECT event_position, event_version FROM appended ORDER BY n",
                [*params, *dependent.values()],
            )
        result = cursor.fetchall()
    _recorded(rows, result)


def _recorded(rows: list[Event], result: list[tuple[int, int]]) -> None:
    for row, (position, version) in zip(rows, result, strict=True):
        row.position, row.version = position, version
        row._state.adding, row._state.db = False, connection.alias


def dispatch_after_commit() -> None:
    """Once per transaction, wake the subscription processor when the transaction commits."""
    if not getattr(settings, "EVENT_DISPATCH_ON_COMMIT", True):
        return
    from scm.events.tasks import kick_subscriptions

    if any(callback is kick_subscriptions for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(kick_subscriptions)


# --- Readers ----------------------------------------------------------------------------------


def stream_version(stream: str) -> int:
    return Event.objects.filter(stream=stream).aggregate(v=Max("version"))["v"] or 0


def head_position() -> int:
    return Event.objects.aggregate(p=Max("position"))["p"] or 0


def read_stream(stream: str, *, from_version: int = 1) -> list[RecordedEvent]:
    rows = Event.objects.filter(stream=stream, version__gte=from_version).order_by("version")
    return [RecordedEvent.from_row(row) for row in rows]


def read_all(
    *,
    after: int = 0,
    limit: int = 100,
    types: Iterable[str] | None = None,
    stream: str | None = None,
    stream_prefix: str | None = None,
) -> list[RecordedEvent]:
    """Events with position > after, in position order; follow the log by passing the last position."""
    rows = Event.objects.filter(position__gt=after)
    if types:
        rows = rows.filter(type__in=list(types))
    if stream:
        rows = rows.filter(stream=stream)
    if stream_prefix:
        rows = rows.filter(stream__startswith=stream_prefix)
    return [RecordedEvent.from_row(row) for row in rows.order_by("position")[:limit]]


def read_until(
    at: datetime,
    *,
    by: str = "occurred_at",
    stream: str | None = None,
    types: Iterable[str] | None = None,
    chunk_size: int = 2000,
) -> Iterator[RecordedEvent]:
    """Stream every event that had happened (by="occurred_at") or was known (by="recorded_at") at `at`."""
    if by not in {"occurred_at", "recorded_at"}:
        raise ValueError("by must be 'occurred_at' or 'recorded_at'")
    rows = Event.objects.filter(**{f"{by}__lte": at})
    if stream:
        rows = rows.filter(stream=stream)
    if types:
        rows = rows.filter(type__in=list(types))
    for row in rows.order_by("position").iterator(chunk_size=chunk_size):
        yield RecordedEvent.from_row(row)
