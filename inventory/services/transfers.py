"""Transfers between locations: out of the source, through the transit location, into the destination."""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction

from inventory.exceptions import InboundSupplyTooSmall, SameLocationTransfer
from inventory.models import Bucket, InboundSupply, Location, LocationKind, Reason
from inventory.selectors import get_item, get_location
from inventory.services.lock_objects import lock_balances, lock_supply
from inventory.services.movements import _require_available
from inventory.services.recording import Movement, effective_time, positive_qty, record_movements
from scm.errors import ValidationFailed
from scm.events.store import RecordedEvent
from scm.validation import as_date

TRANSIT_LOCATION_CODE = "IN-TRANSIT"


def transit_location() -> Location:
    location, _ = Location.objects.get_or_create(
        code=TRANSIT_LOCATION_CODE,
        defaults={
            "name": "Goods in transit between locations",
            "kind": LocationKind.IN_TRANSIT,
            "allocation_rank": 10_000,
        },
    )
    return location


@transaction.atomic
def dispatch_transfer(
    *,
    sku: str,
    from_location: str,
    to_location: str,
    qty: int,
    reference: str,
    expected_date: date | None = None,
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """Send units from one location towards another: out of the source, into transit, and expected
    at the destination as inbound supply until `receive_transfer`."""
    qty = positive_qty(qty)
    if from_location == to_location:
        raise SameLocationTransfer(from_location)
    if not reference:
        raise ValidationFailed("A transfer needs a reference.", reference=reference)
    when = effective_time(effective_at)
    expected_date = as_date(expected_date, "expected_date") if expected_date else None
    item, source, destination = get_item(sku), get_location(from_location), get_location(to_location)
    via = transit_location()
    balances = lock_balances([(item, source), (item, via), (item, destination)])
    source_balance = balances[(item.pk, source.pk)]
    _require_available(source_balance, item, source, qty)
    supply, _ = InboundSupply.objects.get_or_create(
        item=item,
        location=destination,
        reference=reference,
        defaults={"source": "transfer", "expected_date": expected_date or when.date()},
    )
    supply.quantity += qty
    supply.save(update_fields=["quantity", "updated_at"])
    return record_movements(
        item=item,
        location=source,
        event_type="TransferDispatched",
        payload={
            "sku": sku,
            "from_location": from_location,
            "to_location": to_location,
            "via_location": via.code,
            "qty": qty,
            "reference": reference,
            "expected_date": supply.expected_date.isoformat(),
        },
        movements=[
            Movement(source_balance, item, source, Bucket.ON_HAND, -qty, Reason.TRANSFER_OUT),
            Movement(balances[(item.pk, via.pk)], item, via, Bucket.ON_HAND, qty, Reason.TRANSFER_IN),
            Movement(balances[(item.pk, destination.pk)], item, destination, Bucket.INBOUND, qty, Reason.INBOUND_ADDED),
        ],
        reference=reference,
        effective_at=when,
    )


@transaction.atomic
def receive_transfer(
    *,
    sku: str,
    to_location: str,
    qty: int,
    reference: str,
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """Units of a dispatched transfer arrive: out of transit, on hand at the destination."""
    qty = positive_qty(qty)
    when = effective_time(effective_at)
    item, destination = get_item(sku), get_location(to_location)
    via = transit_location()
    balances = lock_balances([(item, via), (item, destination)])
    supply = lock_supply(item, destination, reference)
    if supply.quantity < qty:
        raise InboundSupplyTooSmall(reference=reference, requested=qty, expected=supply.quantity)
    via_balance, destination_balance = balances[(item.pk, via.pk)], balances[(item.pk, destination.pk)]
    supply.quantity -= qty
    supply.save(update_fields=["quantity", "updated_at"])
    return record_movements(
        item=item,
        location=destination,
        event_type="TransferReceived",
        payload={"sku": sku, "to_location": to_location, "via_location": via.code, "qty": qty, "reference": reference},
        movements=[
            Movement(via_balance, item, via, Bucket.ON_HAND, -qty, Reason.TRANSFER_OUT),
            Movement(destination_balance, item, destination, Bucket.ON_HAND, qty, Reason.TRANSFER_IN),
            Movement(destination_balance, item, destination, Bucket.INBOUND, -qty, Reason.INBOUND_RECEIVED),
        ],
        reference=reference,
        effective_at=when,
    )


@transaction.atomic
def transfer(
    *,
    sku: str,
    from_location: str,
    to_location: str,
    qty: int,
    reference: str,
    effective_at: datetime | None = None,
) -> list[RecordedEvent]:
    """A transfer that arrives at once (a move within a site): dispatch and receipt together."""
    dispatched = dispatch_transfer(
        sku=sku,
        from_location=from_location,
        to_location=to_location,
        qty=qty,
        reference=reference,
        effective_at=effective_at,
    )
    received = receive_transfer(
        sku=sku, to_location=to_location, qty=qty, reference=reference, effective_at=effective_at
    )
    return [dispatched, received]
