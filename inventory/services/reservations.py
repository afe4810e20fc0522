"""Reservations: holding, releasing and consuming units for a holder (an order line, a transfer).

One implementation, on every backend: `stock_reserve_many`, `reservation_release_many` and
`reservation_consume_many`, each one
transaction that locks every balance it touches (in (item id, location id) order) and then every
reservation (in (item id, location id, holder) order), checks all lines and raises before writing
anything, writes, and appends its stock events last. `reserve`, `release` and `reservation_consume`
are their one-line forms. Allocation, shipping, cancellation, the benchmarks and the tests all go
through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from inventory.exceptions import InsufficientStock, ReservationTooSmall, Shortfall
from inventory.models import Balance, Bucket, Item, Location, Reason, Reservation
from inventory.selectors import get_items, get_locations
from inventory.services.lock_objects import BalanceKey, ReservationKey, lock_balances, lock_reservations
from inventory.services.recording import Movement, effective_time, positive_qty, record_movements
from scm.conflicts import retry_on_conflict
from scm.errors import ValidationFailed
from scm.events.store import RecordedEvent
from scm.observability import metrics


@dataclass(frozen=True)
class ReservationRequest:
    sku: str
    location: str
    qty: int
    holder: str


@dataclass(frozen=True)
class HeldUnits:
    """Units a holder holds at a location: what `reservation_release_many` gives back (`qty=None`: all of them)
    and `reservation_consume_many` ships."""

    sku: str
    location: str
    holder: str
    qty: int | None = None


# --- Reserving --------------------------------------------------------------------------------


def stock_reserve(*, sku: str, location: str, qty: int, holder: str, reference: str = "") -> Reservation:
    """Hold units for one holder: `stock_reserve_many` with one line."""
    return stock_reserve_many(requests=[ReservationRequest(sku, location, qty, holder)], reference=reference)[0]


@retry_on_conflict
@transaction.atomic
def stock_reserve_many(*, requests: Sequence[ReservationRequest], reference: str = "") -> list[Reservation]:
    """Reserve several lines all or nothing: every balance is locked first (fixed order), every
    shortfall is collected, and one InsufficientStock lists them all before anything is written."""
    if not requests:
        return []
    for request in requests:
        positive_qty(request.qty)
        if not request.holder:
            raise ValidationFailed("A reservation needs a holder.", holder=request.holder)
    items, locations = get_items(r.sku for r in requests), get_locations(r.location for r in requests)
    balances = lock_balances((items[r.sku], locations[r.location]) for r in requests)

    wanted: dict[BalanceKey, int] = {}
    for request in requests:
        key = (items[request.sku].pk, locations[request.location].pk)
        wanted[key] = wanted.get(key, 0) + request.qty
    shortfalls = {
        (r.sku, r.location): Shortfall(r.sku, r.location, wanted[key], balances[key].available)
        for r in requests
        if balances[key := (items[r.sku].pk, locations[r.location].pk)].available < wanted[key]
    }
    if shortfalls:
        metrics.reservations_failed.inc()
        raise InsufficientStock(list(shortfalls.values()))

    reservations = []
    for request in requests:
        item, loc = items[request.sku], locations[request.location]
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
            movements=[
                Movement(balances[(item.pk, loc.pk)], item, loc, Bucket.RESERVED, request.qty, Reason.RESERVATION)
            ],
            reference=reference or request.holder,
            effective_at=timezone.now(),
        )
        reservations.append(reservation)
    return reservations


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
        pk, quantity, reserved_total, consumed_total, released_total, created_at = cursor.fetchone()
    return Reservation(
        pk=pk,
        item_id=item.pk,
        location_id=location.pk,
        holder=holder,
        quantity=quantity,
        reserved_total=reserved_total,
        consumed_total=consumed_total,
        released_total=released_total,
        created_at=created_at,
        updated_at=now,
    )


# --- Releasing and consuming ------------------------------------------------------------------


@dataclass
class _Locked:
    items: dict[str, Item]
    locations: dict[str, Location]
    balances: dict[BalanceKey, Balance]
    reservations: dict[ReservationKey, Reservation]

    def of(self, held: HeldUnits) -> tuple[Item, Location, Balance, Reservation]:
        item, location = self.items[held.sku], self.locations[held.location]
        return (
            item,
            location,
            self.balances[(item.pk, location.pk)],
            self.reservations[(item.pk, location.pk, held.holder)],
        )


def _lock_held(lines: Sequence[HeldUnits]) -> _Locked:
    """Every balance, then every reservation these lines touch, each kind in its fixed order."""
    items, locations = get_items(h.sku for h in lines), get_locations(h.location for h in lines)
    balances = lock_balances((items[h.sku], locations[h.location]) for h in lines)
    reservations = lock_reservations((items[h.sku], locations[h.location], h.holder) for h in lines)
    return _Locked(items, locations, balances, reservations)


def _take(reservation: Reservation, held: HeldUnits, amount: int) -> None:
    """Take `amount` off the (locked, in-memory) reservation, or refuse with what it holds."""
    if amount > reservation.quantity:
        raise ReservationTooSmall(
            holder=held.holder, sku=held.sku, location=held.location, requested=amount, held=reservation.quantity
        )
    reservation.quantity -= amount


@retry_on_conflict
@transaction.atomic
def reservation_release_many(*, releases: Sequence[HeldUnits], reason: str = "released") -> list[RecordedEvent]:
    """Give several holders' reserved units back to available, all or nothing.

    `qty=None` releases all the holder still holds; a reservation with nothing left is skipped (so
    cancellations can repeat safely). Asking for more than is held raises ReservationTooSmall and a
    missing reservation ReservationNotFound, before anything is written. One ReservationReleased per
    release that moved units, appended after every lock and write.
    """
    if not releases:
        return []
    locked = _lock_held(releases)
    taken: list[tuple[HeldUnits, int]] = []
    for held in releases:
        *_, reservation = locked.of(held)
        amount = reservation.quantity if held.qty is None else positive_qty(held.qty)
        _take(reservation, held, amount)
        reservation.released_total += amount
        if amount:
            taken.append((held, amount))
    for reservation in {locked.of(held)[3].pk: locked.of(held)[3] for held, _ in taken}.values():
        reservation.save(update_fields=["quantity", "released_total", "updated_at"])
    events = []
    for held, amount in taken:
        item, location, balance, _ = locked.of(held)
        events.append(
            record_movements(
                item=item,
                location=location,
                event_type="ReservationReleased",
                payload={
                    "sku": held.sku,
                    "location": held.location,
                    "qty": amount,
                    "holder": held.holder,
                    "reason": reason,
                },
                movements=[Movement(balance, item, location, Bucket.RESERVED, -amount, Reason.RELEASE)],
                reference=held.holder,
                effective_at=timezone.now(),
            )
        )
    return events


def reservation_release(
    *, sku: str, location: str, holder: str, qty: int | None = None, reason: str = "released"
) -> RecordedEvent | None:
    """`reservation_release_many` with one line; None when the reservation was already empty."""
    events = reservation_release_many(releases=[HeldUnits(sku, location, holder, qty)], reason=reason)
    return events[0] if events else None


@retry_on_conflict
@transaction.atomic
def reservation_consume_many(
    *, consumptions: Sequence[HeldUnits], reference: str, effective_at: datetime | None = None
) -> list[RecordedEvent]:
    """Ship reserved units, all or nothing: on hand and reserved both fall by each line's `qty`.
    A line asking more than its holder holds raises ReservationTooSmall (a missing reservation
    ReservationNotFound) before anything is written. One ReservationConsumed per line."""
    when = effective_time(effective_at)
    for held in consumptions:
        positive_qty(held.qty)
    if not consumptions:
        return []
    locked = _lock_held(consumptions)
    for held in consumptions:
        *_, reservation = locked.of(held)
        _take(reservation, held, held.qty)
        reservation.consumed_total += held.qty
    for reservation in locked.reservations.values():
        reservation.save(update_fields=["quantity", "consumed_total", "updated_at"])
    events = []
    for held in consumptions:
        item, location, balance, _ = locked.of(held)
        events.append(
            record_movements(
                item=item,
                location=location,
                event_type="ReservationConsumed",
                payload={
                    "sku": held.sku,
                    "location": held.location,
                    "qty": held.qty,
                    "holder": held.holder,
                    "reference": reference,
                },
                movements=[
                    Movement(balance, item, location, Bucket.RESERVED, -held.qty, Reason.SHIPMENT),
                    Movement(balance, item, location, Bucket.ON_HAND, -held.qty, Reason.SHIPMENT),
                ],
                reference=reference,
                effective_at=when,
            )
        )
    return events


def reservation_consume(
    *,
    sku: str,
    location: str,
    holder: str,
    qty: int,
    reference: str,
    effective_at: datetime | None = None,
) -> RecordedEvent:
    """`reservation_consume_many` with one line."""
    return reservation_consume_many(
        consumptions=[HeldUnits(sku, location, holder, qty)], reference=reference, effective_at=effective_at
    )[0]
