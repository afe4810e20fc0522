"""Recording stock movements: the one way a balance changes.

`record_movements` applies movements to balances the caller has already locked, appends one event on
the stock stream `stock-<sku>@<location>` and writes the ledger rows that point at that event.
Quantities are whole base units. `effective_at` says when a movement happened (defaults to now; a
backdated movement is a new row, earlier rows never change); `recorded_at` is always now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from inventory.exceptions import InvalidQuantity
from inventory.models import Balance, Bucket, Item, LedgerEntry, Location
from scm.events.store import NewEvent, RecordedEvent, append
from scm.validation import past_or_now


def stock_stream(sku: str, location: str) -> str:
    return f"stock-{sku}@{location}"


def positive_qty(qty: object) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise InvalidQuantity(qty, "must be a whole number of base units")
    if qty <= 0:
        raise InvalidQuantity(qty, "must be greater than zero")
    return qty


def effective_time(effective_at: datetime | None) -> datetime:
    """When a movement happened (see scm.validation.past_or_now)."""
    return past_or_now(effective_at, "effective_at")


@dataclass(frozen=True)
class Movement:
    balance: Balance
    item: Item
    location: Location
    bucket: str
    quantity: int
    reason: str


def record_movements(
    *,
    item: Item,
    location: Location,
    event_type: str,
    payload: dict,
    movements: Sequence[Movement],
    reference: str,
    effective_at: datetime,
) -> RecordedEvent:
    """Apply movements to the (already locked) balances, append the event, write the ledger rows."""
    touched: dict[int, Balance] = {}
    for movement in movements:
        balance = movement.balance
        if movement.bucket == Bucket.ON_HAND:
            balance.on_hand += movement.quantity
        elif movement.bucket == Bucket.RESERVED:
            balance.reserved += movement.quantity
        else:
            balance.inbound += movement.quantity
        touched[balance.pk] = balance
    for balance in touched.values():
        balance.save(update_fields=["on_hand", "reserved", "inbound", "updated_at"])

    payload = {
        **payload,
        "effective_at": effective_at.isoformat(),
        "movements": [
            {"sku": m.item.sku, "location": m.location.code, "bucket": m.bucket, "qty": m.quantity, "reason": m.reason}
            for m in movements
        ],
    }
    event = append(
        stock_stream(item.sku, location.code),
        [NewEvent(type=event_type, payload=payload, occurred_at=effective_at)],
    )[0]
    recorded_at = timezone.now()
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                item=m.item,
                location=m.location,
                bucket=m.bucket,
                quantity=m.quantity,
                reason=m.reason,
                reference=reference,
                event_id=event.position,
                effective_at=effective_at,
                recorded_at=recorded_at,
            )
            for m in movements
        ]
    )
    return event
