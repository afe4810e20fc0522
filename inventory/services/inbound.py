"""Inbound supply: units expected at a location by a date (PO lines, ship notices, transfers)."""

from __future__ import annotations

from datetime import date

from django.db import connection, transaction
from django.utils import timezone

from inventory.exceptions import InboundSupplyTooSmall, InvalidQuantity
from inventory.models import Bucket, InboundSupply, Item, Location, Reason
from inventory.selectors import get_item, get_location
from inventory.services.lock_objects import lock_balances, lock_supply
from inventory.services.recording import Movement, positive_qty, record_movements
from scm.errors import ValidationFailed
from scm.events.store import RecordedEvent
from scm.validation import as_date


def _add_to_supply(item: Item, location: Location, reference: str, source: str, qty: int, expected: date) -> None:
    """Create the inbound supply record or add to it (and move its date), in one statement (an upsert)."""
    now = timezone.now()
    table = InboundSupply._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (item_id, location_id, reference, source, quantity, expected_date, created_at,
                                 updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (reference, item_id, location_id) DO UPDATE SET
                quantity = {table}.quantity + EXCLUDED.quantity,
                expected_date = EXCLUDED.expected_date,
                updated_at = EXCLUDED.updated_at
            """,
            [item.pk, location.pk, reference, source, qty, expected, now, now],
        )


@transaction.atomic
def add_inbound(
    *, sku: str, location: str, qty: int, reference: str, expected_date: date, source: str = "po"
) -> RecordedEvent:
    """Expect units at a location by a date (a confirmed PO line, an ASN, ...). Adding to an existing
    reference increases it and moves its expected date to the new one."""
    qty = positive_qty(qty)
    expected_date = as_date(expected_date, "expected_date")
    if not reference:
        raise ValidationFailed("Inbound supply needs a reference.", reference=reference)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    _add_to_supply(item, loc, reference, source, qty, expected_date)
    return record_movements(
        item=item,
        location=loc,
        event_type="InboundSupplyAdded",
        payload={
            "sku": sku,
            "location": location,
            "qty": qty,
            "reference": reference,
            "source": source,
            "expected_date": expected_date.isoformat(),
        },
        movements=[Movement(balance, item, loc, Bucket.INBOUND, qty, Reason.INBOUND_ADDED)],
        reference=reference,
        effective_at=timezone.now(),
    )


@transaction.atomic
def remove_inbound(
    *, sku: str, location: str, reference: str, qty: int | None = None, reason: str = "cancelled"
) -> RecordedEvent | None:
    """Stop expecting units (a cancelled PO line, a short shipment). `qty=None` removes all still expected."""
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    supply = lock_supply(item, loc, reference)
    amount = supply.quantity if qty is None else positive_qty(qty)
    if amount == 0:
        return None
    if amount > supply.quantity:
        raise InboundSupplyTooSmall(reference=reference, requested=amount, expected=supply.quantity)
    supply.quantity -= amount
    supply.save(update_fields=["quantity", "updated_at"])
    return record_movements(
        item=item,
        location=loc,
        event_type="InboundSupplyRemoved",
        payload={"sku": sku, "location": location, "qty": amount, "reference": reference, "reason": reason},
        movements=[Movement(balance, item, loc, Bucket.INBOUND, -amount, Reason.INBOUND_REMOVED)],
        reference=reference,
        effective_at=timezone.now(),
    )


@transaction.atomic
def move_inbound(
    *,
    sku: str,
    location: str,
    from_reference: str,
    from_qty: int,
    to_reference: str,
    qty: int,
    expected_date: date,
    source: str = "asn",
) -> RecordedEvent:
    """Expected units move from one supply document to another (a PO line's units now travel on a
    ship notice): `from_qty` stop being expected under `from_reference` (0 for none) and `qty` are
    expected under `to_reference` by `expected_date`. One lock, one event, up to two ledger rows."""
    qty = positive_qty(qty)
    expected_date = as_date(expected_date, "expected_date")
    if not to_reference:
        raise ValidationFailed("Inbound supply needs a reference.", reference=to_reference)
    if isinstance(from_qty, bool) or not isinstance(from_qty, int) or from_qty < 0:
        raise InvalidQuantity(from_qty, "the quantity moved off a supply is a whole number of zero or more")
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    moved = from_qty
    if moved:
        source_supply = lock_supply(item, loc, from_reference)
        if moved > source_supply.quantity:
            raise InboundSupplyTooSmall(reference=from_reference, requested=moved, expected=source_supply.quantity)
        source_supply.quantity -= moved
        source_supply.save(update_fields=["quantity", "updated_at"])
    _add_to_supply(item, loc, to_reference, source, qty, expected_date)
    movements = [Movement(balance, item, loc, Bucket.INBOUND, qty, Reason.INBOUND_ADDED)]
    if moved:
        movements.insert(0, Movement(balance, item, loc, Bucket.INBOUND, -moved, Reason.INBOUND_REMOVED))
    return record_movements(
        item=item,
        location=loc,
        event_type="InboundSupplyMoved",
        payload={
            "sku": sku,
            "location": location,
            "qty": qty,
            "from_reference": from_reference,
            "moved": moved,
            "to_reference": to_reference,
            "source": source,
            "expected_date": expected_date.isoformat(),
        },
        movements=movements,
        reference=to_reference,
        effective_at=timezone.now(),
    )


@transaction.atomic
def reschedule_inbound(*, sku: str, location: str, reference: str, expected_date: date) -> RecordedEvent:
    """Move the expected date of inbound supply (a supplier confirmed a new date, an ASN gave one)."""
    expected_date = as_date(expected_date, "expected_date")
    item, loc = get_item(sku), get_location(location)
    lock_balances([(item, loc)])
    supply = lock_supply(item, loc, reference)
    previous = supply.expected_date
    supply.expected_date = expected_date
    supply.save(update_fields=["expected_date", "updated_at"])
    return record_movements(
        item=item,
        location=loc,
        event_type="InboundSupplyRescheduled",
        payload={
            "sku": sku,
            "location": location,
            "reference": reference,
            "previous_date": previous.isoformat(),
            "expected_date": expected_date.isoformat(),
        },
        movements=[],
        reference=reference,
        effective_at=timezone.now(),
    )
