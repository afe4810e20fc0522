"""Receipts, adjustments and cycle counts of on-hand stock.

Each service is one transaction that locks the balance, checks the rule and raises a domain error
before writing anything, then records the movement (balance, event, ledger).
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Sum

from inventory.exceptions import BelowReserved, InsufficientStock, InvalidQuantity, Shortfall, UnknownReasonCode
from inventory.models import Balance, Bucket, Item, LedgerEntry, Location, Reason
from inventory.selectors import get_item, get_location
from inventory.services.lock_objects import lock_balances, lock_supply
from inventory.services.recording import Movement, effective_time, positive_qty, record_movements
from scm.events.store import RecordedEvent

ADJUSTMENT_REASONS = ("damaged", "lost", "found", "expired", "correction", "sample", "other")


def _require_available(balance: Balance, item: Item, location: Location, qty: int) -> None:
    if balance.available < qty:
        raise InsufficientStock([Shortfall(item.sku, location.code, qty, balance.available)])


@transaction.atomic
def receive(
    *,
    sku: str,
    location: str,
    qty: int,
    reference: str = "",
    inbound_reference: str | None = None,
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """Put units on hand. With `inbound_reference`, the matching inbound supply shrinks by what arrived
    (never below zero: an over-delivery closes it and the surplus is simply on hand)."""
    qty = positive_qty(qty)
    when = effective_time(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    movements = [Movement(balance, item, loc, Bucket.ON_HAND, qty, Reason.RECEIPT)]
    inbound_taken = 0
    if inbound_reference:
        supply = lock_supply(item, loc, inbound_reference)
        inbound_taken = min(qty, supply.quantity)
        if inbound_taken:
            supply.quantity -= inbound_taken
            supply.save(update_fields=["quantity", "updated_at"])
            movements.append(Movement(balance, item, loc, Bucket.INBOUND, -inbound_taken, Reason.INBOUND_RECEIVED))
    return record_movements(
        item=item,
        location=loc,
        event_type="StockReceived",
        payload={
            "sku": sku,
            "location": location,
            "qty": qty,
            "reference": reference,
            "inbound_reference": inbound_reference or "",
            "inbound_received": inbound_taken,
        },
        movements=movements,
        reference=reference or (inbound_reference or ""),
        effective_at=when,
    )


@transaction.atomic
def adjust(
    *,
    sku: str,
    location: str,
    delta: int,
    reason: str,
    reference: str = "",
    note: str = "",
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """Correct on-hand stock by a signed amount, with a reason code (damaged, lost, found, ...)."""
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
        raise InvalidQuantity(delta, "an adjustment must be a non-zero whole number")
    if reason not in ADJUSTMENT_REASONS:
        raise UnknownReasonCode(reason, list(ADJUSTMENT_REASONS))
    when = effective_time(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    if balance.on_hand + delta < balance.reserved:
        raise BelowReserved(
            sku=sku, location=location, on_hand_after=balance.on_hand + delta, reserved=balance.reserved
        )
    return record_movements(
        item=item,
        location=loc,
        event_type="StockAdjusted",
        payload={
            "sku": sku,
            "location": location,
            "qty": delta,
            "reason": reason,
            "reference": reference,
            "note": note,
        },
        movements=[Movement(balance, item, loc, Bucket.ON_HAND, delta, Reason.ADJUSTMENT)],
        reference=reference,
        effective_at=when,
    )


@transaction.atomic
def count(
    *,
    sku: str,
    location: str,
    counted: int,
    reference: str = "",
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """Record a cycle count: on hand at `effective_at` becomes `counted`.

    For a count entered late, the difference is taken against what the ledger said at the
    count's effective time, and movements after it stay as they are.
    """
    if isinstance(counted, bool) or not isinstance(counted, int) or counted < 0:
        raise InvalidQuantity(counted, "a count is a whole number of zero or more")
    when = effective_time(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    before = (
        LedgerEntry.objects.filter(item=item, location=loc, bucket=Bucket.ON_HAND, effective_at__lte=when).aggregate(
            total=Sum("quantity")
        )["total"]
        or 0
    )
    difference = counted - before
    if balance.on_hand + difference < balance.reserved:
        raise BelowReserved(
            sku=sku, location=location, on_hand_after=balance.on_hand + difference, reserved=balance.reserved
        )
    movements = [Movement(balance, item, loc, Bucket.ON_HAND, difference, Reason.COUNT)] if difference else []
    return record_movements(
        item=item,
        location=loc,
        event_type="StockCounted",
        payload={
            "sku": sku,
            "location": location,
            "counted": counted,
            "expected": before,
            "difference": difference,
            "reference": reference,
        },
        movements=movements,
        reference=reference,
        effective_at=when,
    )
