"""Rebuilding the balance projection from its sources, streaming (memory grows with the number of
balances, never with the number of rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction

from inventory.models import Balance, Bucket, Item, LedgerEntry, Location
from scm.events.models import Event

INVENTORY_EVENT_TYPES = (
    "StockReceived",
    "StockAdjusted",
    "StockCounted",
    "TransferDispatched",
    "TransferReceived",
    "StockReserved",
    "ReservationReleased",
    "ReservationConsumed",
    "InboundSupplyAdded",
    "InboundSupplyRemoved",
    "InboundSupplyMoved",
)

Progress = Callable[[int], None]
Totals = dict[tuple[int, int], dict[str, int]]


@dataclass(frozen=True)
class RebuildResult:
    rows_read: int
    balances_written: int
    balances_changed: int


@contextmanager
def audit_snapshot() -> Iterator[None]:
    """Every read inside sees the database as of one instant.

    The audit commands compare several tables (balances, ledger, reservations, inbound supply, the
    event log) while the system keeps writing; read at different instants they would disagree for no
    fault. On PostgreSQL this is one REPEATABLE READ, READ ONLY transaction (it also gives the
    server-side cursors the transaction they need); on SQLite a read transaction. Inside a caller's
    transaction (a test), that transaction is the snapshot.
    """
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def make_interruptible() -> None:
    """Let Ctrl-C cancel the statement in flight (libpq otherwise blocks the signal until the server
    answers, which may be a lock wait): psycopg2 then waits in Python and sends a cancel request on
    KeyboardInterrupt, and the statement fails with query_canceled. For management commands only: the
    setting holds for the whole process."""
    if connection.vendor == "postgresql":
        import psycopg2.extensions
        import psycopg2.extras

        psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)


def interrupted(exc: BaseException) -> bool:
    """Ctrl-C itself, or the statement it cancelled (SQLSTATE 57014)."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    cause = exc.__cause__ or exc
    return getattr(cause, "pgcode", None) == "57014"


def _stream(sql: str, params: list, chunk_size: int = 5000) -> Iterator[tuple]:
    """Rows of `sql`, `chunk_size` at a time: through Django's chunked (server-side, on PostgreSQL)
    cursor, which works inside a transaction or not, unless DISABLE_SERVER_SIDE_CURSORS says the
    connection pooler cannot keep one."""
    if connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        cursor = connection.cursor()
    else:
        cursor = connection.chunked_cursor()
    with cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


def totals_from_ledger(progress: Progress | None = None, every: int = 100_000) -> tuple[Totals, int]:
    """Sum every ledger row per balance and bucket."""
    totals: Totals = defaultdict(lambda: {b: 0 for b in Bucket.values})
    rows = 0
    for item_id, location_id, bucket, quantity in _stream(
        f"SELECT item_id, location_id, bucket, quantity FROM {LedgerEntry._meta.db_table}", []
    ):
        totals[(item_id, location_id)][bucket] += quantity
        rows += 1
        if progress and rows % every == 0:
            progress(rows)
    if progress and rows % every:
        progress(rows)
    return totals, rows


def _event_movements() -> Iterator[tuple[str, str, str, int]]:
    table = Event._meta.db_table
    placeholders = ", ".join(["%s"] * len(INVENTORY_EVENT_TYPES))
    if connection.vendor == "postgresql":
        sql = (
            "SELECT m->>'sku', m->>'location', m->>'bucket', (m->>'qty')::bigint "
            f"FROM {table} AS e, jsonb_array_elements(e.payload->'movements') AS m WHERE e.type IN ({placeholders})"
        )
    else:
        sql = (
            "SELECT json_extract(m.value, '$.sku'), json_extract(m.value, '$.location'), "
            "json_extract(m.value, '$.bucket'), json_extract(m.value, '$.qty') "
            f"FROM {table} AS e, json_each(json_extract(e.payload, '$.movements')) AS m "
            f"WHERE e.type IN ({placeholders})"
        )
    yield from _stream(sql, list(INVENTORY_EVENT_TYPES))


def totals_from_events(progress: Progress | None = None, every: int = 100_000) -> tuple[Totals, int]:
    """Sum the movements recorded in the inventory events per balance and bucket."""
    item_ids = dict(Item.objects.values_list("sku", "id"))
    location_ids = dict(Location.objects.values_list("code", "id"))
    totals: Totals = defaultdict(lambda: {b: 0 for b in Bucket.values})
    rows = 0
    for sku, location, bucket, quantity in _event_movements():
        totals[(item_ids[sku], location_ids[location])][bucket] += quantity
        rows += 1
        if progress and rows % every == 0:
            progress(rows)
    if progress and rows % every:
        progress(rows)
    return totals, rows


@transaction.atomic
def rebuild_balances(*, source: str = "ledger", progress: Progress | None = None) -> RebuildResult:
    """Recompute every balance from the ledger (or from the events' movements) and write it.

    Balance writes are blocked while it runs (the table is locked), so the projection cannot move
    under the replay; reads go on.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("LOCK TABLE inventory_balance IN EXCLUSIVE MODE")
    totals, rows = (totals_from_events if source == "events" else totals_from_ledger)(progress)
    existing = {(b.item_id, b.location_id): b for b in Balance.objects.all()}
    changed: list[Balance] = []
    created: list[Balance] = []
    for key in set(existing) | set(totals):
        want = totals.get(key, {b: 0 for b in Bucket.values})
        balance = existing.get(key)
        if balance is None:
            created.append(
                Balance(
                    item_id=key[0],
                    location_id=key[1],
                    on_hand=want["on_hand"],
                    reserved=want["reserved"],
                    inbound=want["inbound"],
                )
            )
        elif (balance.on_hand, balance.reserved, balance.inbound) != (
            want["on_hand"],
            want["reserved"],
            want["inbound"],
        ):
            balance.on_hand, balance.reserved, balance.inbound = want["on_hand"], want["reserved"], want["inbound"]
            changed.append(balance)
    Balance.objects.bulk_create(created, batch_size=1000)
    Balance.objects.bulk_update(changed, ["on_hand", "reserved", "inbound"], batch_size=1000)
    return RebuildResult(
        rows_read=rows, balances_written=len(existing) + len(created), balances_changed=len(changed) + len(created)
    )
