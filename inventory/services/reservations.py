"""Reservations: holding, releasing and consuming units for a holder (an order line, a transfer)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from inventory.exceptions import InsufficientStock, ReservationTooSmall, Shortfall, UnknownLocation, UnknownSku
from inventory.models import Balance, Bucket, Item, Location, Reason, Reservation
from inventory.selectors import get_item, get_location
from inventory.services.lock_objects import BalanceKey, lock_balances, lock_reservation
from inventory.services.recording import Movement, effective_time, positive_qty, record_movements, stock_stream
from scm.errors import ValidationFailed
from scm.events import schemas
from scm.events.context import current_metadata
from scm.events.store import APPEND_LOCK_KEY, RecordedEvent, dispatch_after_commit
from scm.observability import metrics


@dataclass(frozen=True)
class ReservationRequest:
    sku: str
    location: str
    qty: int
    holder: str


def reserve(*, sku: str, location: str, qty: int, holder: str, reference: str = "") -> Reservation:
    """Hold units for a holder. Raises InsufficientStock (with what is available) and writes nothing
    when the balance cannot cover it.

    One conditional UPDATE both locks the balance row and checks availability. On PostgreSQL the
    whole reservation is one call of the `scm_reserve` database function (one statement, so it is
    atomic even outside a transaction), and the hot balance row stays locked only for that
    statement and the commit.
    """
    qty = positive_qty(qty)
    if not holder:
        raise ValidationFailed("A reservation needs a holder.", holder=holder)
    if connection.vendor == "postgresql":
        return _reserve_in_one_round_trip(sku, location, qty, holder, reference)
    with transaction.atomic():
        item, loc = get_item(sku), get_location(location)
        claimed = Balance.objects.filter(item=item, location=loc, on_hand__gte=F("reserved") + qty).update(
            reserved=F("reserved") + qty, updated_at=timezone.now()
        )
        if not claimed:
            current = Balance.objects.filter(item=item, location=loc).first()
            metrics.reservations_failed.inc()
            raise InsufficientStock([Shortfall(sku, location, qty, current.available if current else 0)])
        reservation = _add_to_reservation(item, loc, holder, qty)
        record_movements(
            item=item,
            location=loc,
            event_type="StockReserved",
            payload={
                "sku": sku,
                "location": location,
                "qty": qty,
                "holder": holder,
                "reservation_id": reservation.pk,
                "reference": reference,
            },
            movements=[Movement(None, item, loc, Bucket.RESERVED, qty, Reason.RESERVATION)],
            reference=reference or holder,
            effective_at=timezone.now(),
            balances_updated=True,
        )
        return reservation


def _reserve_in_one_round_trip(sku: str, location: str, qty: int, holder: str, reference: str) -> Reservation:
    """The same steps as the portable path, run by the `scm_reserve` database function (migration
    inventory 0003)."""
    now = timezone.now()
    payload = {
        "sku": sku,
        "location": location,
        "qty": qty,
        "holder": holder,
        "reservation_id": 0,  # filled in by the database once the record exists
        "reference": reference,
        "effective_at": now.isoformat(),
        "movements": [
            {"sku": sku, "location": location, "bucket": Bucket.RESERVED, "qty": qty, "reason": Reason.RESERVATION}
        ],
    }
    schema_version = schemas.validate_payload("StockReserved", payload)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM scm_reserve(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s)",
            [
                sku,
                location,
                qty,
                holder,
                reference or holder,
                stock_stream(sku, location),
                APPEND_LOCK_KEY,
                str(uuid.uuid4()),
                schema_version,
                json.dumps(payload),
                json.dumps(current_metadata()),
                now,
            ],
        )
        (
            problem,
            item_id,
            location_id,
            available,
            pk,
            quantity,
            reserved_total,
            consumed_total,
            released_total,
            created_at,
            _,
        ) = cursor.fetchone()
    if problem == "unknown_sku":
        raise UnknownSku(sku)
    if problem == "unknown_location":
        raise UnknownLocation(location)
    if problem == "insufficient_stock":
        metrics.reservations_failed.inc()
        raise InsufficientStock([Shortfall(sku, location, qty, available)])
    dispatch_after_commit()
    return _reservation_from_row(
        item_id, location_id, holder, now, pk, quantity, reserved_total, consumed_total, released_total, created_at
    )


def _add_to_reservation(item: Item, location: Location, holder: str, qty: int) -> Reservation:
    """Create the holder's reservation record or add to it, in one statement (an upsert)."""
    now = timezone.now()
    table = Reservation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (item_id, location_id, holder, quantity, reserved_total, consumed_total,
                                 released_total, created_at, updated_at)
            VALUES (%s, %s, %s, %s, %s, 0, 0, %s, %s)
            ON CONFLICT (holder, item_id, location_id) DO UPDATE SET
                quantity = {table}.quantity + EXCLUDED.quantity,
                reserved_total = {table}.reserved_total + EXCLUDED.reserved_total,
                updated_at = EXCLUDED.updated_at
            RETURNING id, quantity, reserved_total, consumed_total, released_total, created_at
            """,
            [item.pk, location.pk, holder, qty, qty, now, now],
        )
        row = cursor.fetchone()
    return _reservation_from_row(item.pk, location.pk, holder, now, *row)


def _reservation_from_row(
    item_id: int,
    location_id: int,
    holder: str,
    now: datetime,
    pk: int,
    quantity: int,
    reserved_total: int,
    consumed_total: int,
    released_total: int,
    created_at: datetime,
) -> Reservation:
    """The Reservation an upsert's RETURNING row describes, without reading it again."""
    return Reservation(
        pk=pk,
        item_id=item_id,
        location_id=location_id,
        holder=holder,
        quantity=quantity,
        reserved_total=reserved_total,
        consumed_total=consumed_total,
        released_total=released_total,
        created_at=created_at,
        updated_at=now,
    )


@transaction.atomic
def reserve_many(*, requests: Sequence[ReservationRequest], reference: str = "") -> list[Reservation]:
    """Reserve several lines all or nothing: every balance is locked first (fixed order), every
    shortfall is collected, and one InsufficientStock lists them all before anything is written."""
    if not requests:
        return []
    for request in requests:
        positive_qty(request.qty)
        if not request.holder:
            raise ValidationFailed("A reservation needs a holder.", holder=request.holder)
    items = {sku: get_item(sku) for sku in {r.sku for r in requests}}
    locations = {code: get_location(code) for code in {r.location for r in requests}}
    balances = lock_balances((items[r.sku], locations[r.location]) for r in requests)

    wanted: dict[BalanceKey, int] = {}
    for request in requests:
        key = (items[request.sku].pk, locations[request.location].pk)
        wanted[key] = wanted.get(key, 0) + request.qty
    shortfalls = [
        Shortfall(items[r.sku].sku, r.location, wanted[key], balances[key].available)
        for r in requests
        if (key := (items[r.sku].pk, locations[r.location].pk)) and balances[key].available < wanted[key]
    ]
    if shortfalls:
        metrics.reservations_failed.inc()
        unique = {(s.sku, s.location): s for s in shortfalls}
        raise InsufficientStock(list(unique.values()))

    reservations = []
    for request in requests:
        item, loc = items[request.sku], locations[request.location]
        balance = balances[(item.pk, loc.pk)]
        reservation = _add_to_reservation(item, loc, request.holder, request.qty)
        record_movements(
            item=item,
            location=loc,
            event_type="StockReserved",
            payload={
                "sku": item.sku,
                "location": loc.code,
                "qty": request.qty,
                "holder": request.holder,
                "reservation_id": reservation.pk,
                "reference": reference,
            },
            movements=[Movement(balance, item, loc, Bucket.RESERVED, request.qty, Reason.RESERVATION)],
            reference=reference or request.holder,
            effective_at=timezone.now(),
        )
        reservations.append(reservation)
    return reservations


@transaction.atomic
def release(
    *, sku: str, location: str, holder: str, qty: int | None = None, reason: str = "released"
) -> RecordedEvent | None:
    """Give reserved units back to available. `qty=None` releases everything the holder still holds;
    releasing from an empty reservation is a no-op (returns None), so cancellations can repeat safely."""
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    reservation = lock_reservation(item, loc, holder)
    amount = reservation.quantity if qty is None else positive_qty(qty)
    if amount == 0:
        return None
    if amount > reservation.quantity:
        raise ReservationTooSmall(
            holder=holder, sku=sku, location=location, requested=amount, held=reservation.quantity
        )
    reservation.quantity -= amount
    reservation.released_total += amount
    reservation.save(update_fields=["quantity", "released_total", "updated_at"])
    return record_movements(
        item=item,
        location=loc,
        event_type="ReservationReleased",
        payload={"sku": sku, "location": location, "qty": amount, "holder": holder, "reason": reason},
        movements=[Movement(balance, item, loc, Bucket.RESERVED, -amount, Reason.RELEASE)],
        reference=holder,
        effective_at=timezone.now(),
    )


@transaction.atomic
def consume_reservation(
    *,
    sku: str,
    location: str,
    holder: str,
    qty: int,
    reference: str,
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """Ship reserved units: on hand and reserved both fall by `qty`. More than is held is refused."""
    qty = positive_qty(qty)
    when = effective_time(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    reservation = lock_reservation(item, loc, holder)
    if qty > reservation.quantity:
        raise ReservationTooSmall(holder=holder, sku=sku, location=location, requested=qty, held=reservation.quantity)
    reservation.quantity -= qty
    reservation.consumed_total += qty
    reservation.save(update_fields=["quantity", "consumed_total", "updated_at"])
    return record_movements(
        item=item,
        location=loc,
        event_type="ReservationConsumed",
        payload={"sku": sku, "location": location, "qty": qty, "holder": holder, "reference": reference},
        movements=[
            Movement(balance, item, loc, Bucket.RESERVED, -qty, Reason.SHIPMENT),
            Movement(balance, item, loc, Bucket.ON_HAND, -qty, Reason.SHIPMENT),
        ],
        reference=reference,
        effective_at=when,
    )
