"""Rebuilding the balance projection from its sources, streaming (memory grows with the number of
balances, never with the number of rows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from inventory.models import Balance, Bucket, Item, Location
from inventory.selectors import ledger_rows_for_replay
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
)

Progress = Callable[[int], None]
Totals = dict[tuple[int, int], dict[str, int]]


@dataclass(frozen=True)
class RebuildResult:
    rows_read: int
    balances_written: int
    balances_changed: int


def totals_from_ledger(progress: Progress | None = None, every: int = 100_000) -> tuple[Totals, int]:
    totals: Totals = defaultdict(lambda: {b: 0 for b in Bucket.values})
    rows = 0
    for item_id, location_id, bucket, quantity in ledger_rows_for_replay():
        totals[(item_id, location_id)][bucket] += quantity
        rows += 1
        if progress and rows % every == 0:
            progress(rows)
    return totals, rows


def _event_movements(chunk_size: int = 5000) -> Iterator[dict]:
    payloads = (
        Event.objects.filter(type__in=INVENTORY_EVENT_TYPES)
        .order_by("position")
        .values_list("payload", flat=True)
        .iterator(chunk_size=chunk_size)
    )
    for payload in payloads:
        yield from payload.get("movements", [])


def totals_from_events(progress: Progress | None = None, every: int = 100_000) -> tuple[Totals, int]:
    item_ids = dict(Item.objects.values_list("sku", "id"))
    location_ids = dict(Location.objects.values_list("code", "id"))
    totals: Totals = defaultdict(lambda: {b: 0 for b in Bucket.values})
    rows = 0
    for movement in _event_movements():
        key = (item_ids[movement["sku"]], location_ids[movement["location"]])
        totals[key][movement["bucket"]] += movement["qty"]
        rows += 1
        if progress and rows % every == 0:
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
