"""Every write to stock goes through here.

Each service is one transaction that (1) locks the balances it touches, always in (item id,
location id) order so concurrent multi-balance operations cannot deadlock, (2) checks the rule
and raises a domain error before writing anything, (3) updates the balance projection, (4)
appends one event on the stock stream `stock-<sku>@<location>` and (5) writes the ledger rows
that point at that event. The CHECK constraints on balances are the last line of defence.

Quantities are whole base units. `effective_at` says when a movement happened (defaults to now;
a backdated movement is a new row, earlier rows never change); `recorded_at` is always now.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from inventory.exceptions import (
    BelowReserved,
    InboundSupplyNotFound,
    InboundSupplyTooSmall,
    InsufficientStock,
    InvalidQuantity,
    ReservationNotFound,
    ReservationTooSmall,
    SameLocationTransfer,
    Shortfall,
    UnknownLocation,
    UnknownReasonCode,
    UnknownSku,
)
from inventory.models import (
    Balance,
    Bucket,
    InboundSupply,
    Item,
    LedgerEntry,
    Location,
    LocationKind,
    Reason,
    Reservation,
)
from scm.errors import ValidationFailed
from scm.events import schemas
from scm.events.context import current_metadata
from scm.events.store import APPEND_LOCK_KEY, NewEvent, RecordedEvent, append, dispatch_after_commit
from scm.observability import metrics

TRANSIT_LOCATION_CODE = "IN-TRANSIT"
ADJUSTMENT_REASONS = ("damaged", "lost", "found", "expired", "correction", "sample", "other")
FUTURE_TOLERANCE = timedelta(minutes=5)


def stock_stream(sku: str, location: str) -> str:
    return f"stock-{sku}@{location}"


# --- Lookups and validation -------------------------------------------------------------------


def get_item(sku: str) -> Item:
    try:
        return Item.objects.get(sku=sku)
    except Item.DoesNotExist:
        raise UnknownSku(sku) from None


def get_items(skus: Iterable[str]) -> dict[str, Item]:
    """Items by SKU in one query; the first unknown SKU (in the order given) raises UnknownSku."""
    wanted = list(dict.fromkeys(skus))
    found = {item.sku: item for item in Item.objects.filter(sku__in=wanted)}
    for sku in wanted:
        if sku not in found:
            raise UnknownSku(sku)
    return found


def get_location(code: str) -> Location:
    try:
        return Location.objects.get(code=code)
    except Location.DoesNotExist:
        raise UnknownLocation(code) from None


def _positive(qty: object) -> int:
    if isinstance(qty, bool) or not isinstance(qty, int):
        raise InvalidQuantity(qty, "must be a whole number of base units")
    if qty <= 0:
        raise InvalidQuantity(qty, "must be greater than zero")
    return qty


def _effective(effective_at: datetime | None) -> datetime:
    now = timezone.now()
    if effective_at is None:
        return now
    if timezone.is_naive(effective_at):
        raise ValidationFailed("effective_at must carry a time zone.", effective_at=str(effective_at))
    if effective_at > now + FUTURE_TOLERANCE:
        raise ValidationFailed("effective_at lies in the future.", effective_at=effective_at.isoformat())
    return effective_at


def _as_date(value: date | str, name: str = "expected_date") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{name} {value!r} is not an ISO date (YYYY-MM-DD).", **{name: str(value)}) from None


# --- Locking and recording --------------------------------------------------------------------

BalanceKey = tuple[int, int]


def lock_balances(pairs: Iterable[tuple[Item, Location]]) -> dict[BalanceKey, Balance]:
    """Lock (creating when missing) the balances of these item/location pairs, in one fixed order.

    Callers that will touch several balances in one transaction call this once, up front, with
    all of them; later per-balance locks in the same transaction are then already held.
    """
    wanted = sorted({(item.pk, location.pk) for item, location in pairs})
    found = _select_for_update(wanted)
    missing = [key for key in wanted if key not in found]
    if missing:
        Balance.objects.bulk_create(
            [Balance(item_id=item_id, location_id=location_id) for item_id, location_id in missing],
            ignore_conflicts=True,
        )
        found = _select_for_update(wanted)
    return found


def lock_balances_for_skus(items: Sequence[Item]) -> dict[BalanceKey, Balance]:
    """Lock every existing balance of these items across locations (for allocation decisions)."""
    rows = (
        Balance.objects.select_for_update(of=("self",))
        .select_related("location")
        .filter(item__in=[item.pk for item in items])
        .order_by("item_id", "location_id")
    )
    return {(row.item_id, row.location_id): row for row in rows}


def _select_for_update(keys: list[BalanceKey]) -> dict[BalanceKey, Balance]:
    if not keys:
        return {}
    item_ids = {item_id for item_id, _ in keys}
    location_ids = {location_id for _, location_id in keys}
    rows = (
        Balance.objects.select_for_update()
        .filter(item_id__in=item_ids, location_id__in=location_ids)
        .order_by("item_id", "location_id")
    )
    wanted = set(keys)
    return {(row.item_id, row.location_id): row for row in rows if (row.item_id, row.location_id) in wanted}


@dataclass(frozen=True)
class Movement:
    balance: Balance | None
    item: Item
    location: Location
    bucket: str
    quantity: int
    reason: str


def _record(
    *,
    item: Item,
    location: Location,
    event_type: str,
    payload: dict,
    movements: Sequence[Movement],
    reference: str,
    effective_at: datetime,
    balances_updated: bool = False,
) -> RecordedEvent:
    """Apply movements to the (already locked) balances, append the event, write the ledger rows.

    `balances_updated` says the caller already changed the balance in SQL (a conditional UPDATE).
    """
    touched: dict[int, Balance] = {}
    for movement in movements if not balances_updated else ():
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


def _require_available(balance: Balance, item: Item, location: Location, qty: int) -> None:
    if balance.available < qty:
        raise InsufficientStock([Shortfall(item.sku, location.code, qty, balance.available)])


# --- Receipts, adjustments, counts ------------------------------------------------------------


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
    qty = _positive(qty)
    when = _effective(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    movements = [Movement(balance, item, loc, Bucket.ON_HAND, qty, Reason.RECEIPT)]
    inbound_taken = 0
    if inbound_reference:
        supply = _locked_supply(item, loc, inbound_reference)
        inbound_taken = min(qty, supply.quantity)
        if inbound_taken:
            supply.quantity -= inbound_taken
            supply.save(update_fields=["quantity", "updated_at"])
            movements.append(Movement(balance, item, loc, Bucket.INBOUND, -inbound_taken, Reason.INBOUND_RECEIVED))
    return _record(
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
    when = _effective(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    if balance.on_hand + delta < balance.reserved:
        raise BelowReserved(
            sku=sku, location=location, on_hand_after=balance.on_hand + delta, reserved=balance.reserved
        )
    return _record(
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
    when = _effective(effective_at)
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
    return _record(
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


# --- Transfers --------------------------------------------------------------------------------


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
    qty = _positive(qty)
    if from_location == to_location:
        raise SameLocationTransfer(from_location)
    if not reference:
        raise ValidationFailed("A transfer needs a reference.", reference=reference)
    when = _effective(effective_at)
    expected_date = _as_date(expected_date) if expected_date else None
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
    return _record(
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
    qty = _positive(qty)
    when = _effective(effective_at)
    item, destination = get_item(sku), get_location(to_location)
    via = transit_location()
    balances = lock_balances([(item, via), (item, destination)])
    supply = _locked_supply(item, destination, reference)
    if supply.quantity < qty:
        raise InboundSupplyTooSmall(reference=reference, requested=qty, expected=supply.quantity)
    via_balance, destination_balance = balances[(item.pk, via.pk)], balances[(item.pk, destination.pk)]
    supply.quantity -= qty
    supply.save(update_fields=["quantity", "updated_at"])
    return _record(
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


# --- Reservations -----------------------------------------------------------------------------


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
    qty = _positive(qty)
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
        _record(
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
        _positive(request.qty)
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
        _record(
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


def _locked_reservation(item: Item, location: Location, holder: str) -> Reservation:
    reservation = Reservation.objects.select_for_update().filter(holder=holder, item=item, location=location).first()
    if reservation is None:
        raise ReservationNotFound(holder, item.sku, location.code)
    return reservation


@transaction.atomic
def release(
    *, sku: str, location: str, holder: str, qty: int | None = None, reason: str = "released"
) -> RecordedEvent | None:
    """Give reserved units back to available. `qty=None` releases everything the holder still holds;
    releasing from an empty reservation is a no-op (returns None), so cancellations can repeat safely."""
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    reservation = _locked_reservation(item, loc, holder)
    amount = reservation.quantity if qty is None else _positive(qty)
    if amount == 0:
        return None
    if amount > reservation.quantity:
        raise ReservationTooSmall(
            holder=holder, sku=sku, location=location, requested=amount, held=reservation.quantity
        )
    reservation.quantity -= amount
    reservation.released_total += amount
    reservation.save(update_fields=["quantity", "released_total", "updated_at"])
    return _record(
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
    qty = _positive(qty)
    when = _effective(effective_at)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    reservation = _locked_reservation(item, loc, holder)
    if qty > reservation.quantity:
        raise ReservationTooSmall(holder=holder, sku=sku, location=location, requested=qty, held=reservation.quantity)
    reservation.quantity -= qty
    reservation.consumed_total += qty
    reservation.save(update_fields=["quantity", "consumed_total", "updated_at"])
    return _record(
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


# --- Inbound supply ---------------------------------------------------------------------------


def _locked_supply(item: Item, location: Location, reference: str) -> InboundSupply:
    supply = InboundSupply.objects.select_for_update().filter(item=item, location=location, reference=reference).first()
    if supply is None:
        raise InboundSupplyNotFound(reference, item.sku, location.code)
    return supply


@transaction.atomic
def add_inbound(
    *, sku: str, location: str, qty: int, reference: str, expected_date: date, source: str = "po"
) -> RecordedEvent:
    """Expect units at a location by a date (a confirmed PO line, an ASN, ...). Adding to an existing
    reference increases it and moves its expected date to the new one."""
    qty = _positive(qty)
    expected_date = _as_date(expected_date)
    if not reference:
        raise ValidationFailed("Inbound supply needs a reference.", reference=reference)
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    _add_to_supply(item, loc, reference, source, qty, expected_date)
    return _record(
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
    supply = _locked_supply(item, loc, reference)
    amount = supply.quantity if qty is None else _positive(qty)
    if amount == 0:
        return None
    if amount > supply.quantity:
        raise InboundSupplyTooSmall(reference=reference, requested=amount, expected=supply.quantity)
    supply.quantity -= amount
    supply.save(update_fields=["quantity", "updated_at"])
    return _record(
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
    qty = _positive(qty)
    expected_date = _as_date(expected_date)
    if not to_reference:
        raise ValidationFailed("Inbound supply needs a reference.", reference=to_reference)
    if isinstance(from_qty, bool) or not isinstance(from_qty, int) or from_qty < 0:
        raise InvalidQuantity(from_qty, "the quantity moved off a supply is a whole number of zero or more")
    item, loc = get_item(sku), get_location(location)
    balance = lock_balances([(item, loc)])[(item.pk, loc.pk)]
    moved = from_qty
    if moved:
        source_supply = _locked_supply(item, loc, from_reference)
        if moved > source_supply.quantity:
            raise InboundSupplyTooSmall(reference=from_reference, requested=moved, expected=source_supply.quantity)
        source_supply.quantity -= moved
        source_supply.save(update_fields=["quantity", "updated_at"])
    _add_to_supply(item, loc, to_reference, source, qty, expected_date)
    movements = [Movement(balance, item, loc, Bucket.INBOUND, qty, Reason.INBOUND_ADDED)]
    if moved:
        movements.insert(0, Movement(balance, item, loc, Bucket.INBOUND, -moved, Reason.INBOUND_REMOVED))
    return _record(
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
    expected_date = _as_date(expected_date)
    item, loc = get_item(sku), get_location(location)
    lock_balances([(item, loc)])
    supply = _locked_supply(item, loc, reference)
    previous = supply.expected_date
    supply.expected_date = expected_date
    supply.save(update_fields=["expected_date", "updated_at"])
    return _record(
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


def _clean(instance) -> None:
    try:
        instance.full_clean()
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        first = next(iter(fields.items()))
        raise ValidationFailed(f"{first[0]}: {first[1][0]}", **fields) from None


# --- Master data ------------------------------------------------------------------------------

ITEM_FIELDS = (
    "name",
    "unit",
    "pack_size",
    "active",
    "reorder_point",
    "safety_stock",
    "min_qty",
    "max_qty",
    "lead_time_days",
)
LOCATION_FIELDS = ("name", "kind", "active", "allocation_rank")


def _upsert_master(model, *, key_field: str, key: str, fields: dict, allowed: tuple[str, ...], event_type: str):
    """Create or change one master-data row by its key and record `event_type` with the result."""
    label = model._meta.verbose_name
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValidationFailed(f"Unknown {label} fields: {', '.join(sorted(unknown))}.")
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise ValidationFailed(
            f"A {label} {key_field} must be non-blank without surrounding spaces.", **{key_field: key}
        )
    row = model.objects.select_for_update().filter(**{key_field: key}).first() or model(**{key_field: key})
    for name, value in fields.items():
        setattr(row, name, value)
    if not row.name:
        raise ValidationFailed(f"A {label} needs a name.", name="")
    _clean(row)
    row.save()
    payload = {key_field: key, **{name: getattr(row, name) for name in allowed}}
    append(f"{label}-{key}", [NewEvent(type=event_type, payload=payload)])
    return row


@transaction.atomic
def item_upsert(*, sku: str, **fields) -> Item:
    """Create or change an item; records ItemDefined with the resulting master data."""
    return _upsert_master(Item, key_field="sku", key=sku, fields=fields, allowed=ITEM_FIELDS, event_type="ItemDefined")


@transaction.atomic
def location_upsert(*, code: str, **fields) -> Location:
    """Create or change a location; records LocationDefined."""
    return _upsert_master(
        Location, key_field="code", key=code, fields=fields, allowed=LOCATION_FIELDS, event_type="LocationDefined"
    )
