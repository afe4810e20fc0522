"""Row locks on stock, taken in one fixed order (Saleor's `lock_objects.py` idea).

Within stock the order is: balances in (item id, location id) order, then reservations in (item id,
location id, holder) order, then inbound supply in (item id, location id, reference) order; each
kind in one statement. A service locks everything it will touch up front, before its first event
append (docs/ARCHITECTURE.md, "Lock order"); a later lock of a row it already holds is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q

from inventory.exceptions import InboundSupplyNotFound, ReservationNotFound
from inventory.models import Balance, InboundSupply, Item, Location, Reservation
from scm import raw_sql

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


def lock_balances_by_code(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Balance]:
    """`lock_balances` for (sku, location code) pairs, in the same (item id, location id) order, with
    each balance's item and location loaded: one statement when the balances exist (the common case).
    Raises UnknownSku / UnknownLocation before locking anything when a code does not exist."""
    wanted = set(pairs)
    if not wanted:
        return {}
    found = _select_by_code(wanted)
    if len(found) < len(wanted):
        from inventory.selectors import get_items, get_location

        items = get_items(sorted({sku for sku, _ in wanted}))
        places = {code: get_location(code) for code in sorted({code for _, code in wanted})}
        lock_balances((items[sku], places[code]) for sku, code in wanted)
        found = _select_by_code(wanted)
    return found


def _select_by_code(wanted: set[tuple[str, str]]) -> dict[tuple[str, str], Balance]:
    """The ORM's `select_for_update(of=self).select_related("item", "location")` written in SQL: on the
    inbound path the query building cost five times what the lock costs the database."""
    skus, codes = sorted({sku for sku, _ in wanted}), sorted({code for _, code in wanted})
    balance, item, location = (raw_sql.table(model) for model in (Balance, Item, Location))
    sql = (
        f"SELECT {raw_sql.columns(Balance)}, {raw_sql.columns(Item)}, {raw_sql.columns(Location)} FROM {balance} "
        f"INNER JOIN {item} ON ({balance}.item_id = {item}.id) "
        f"INNER JOIN {location} ON ({balance}.location_id = {location}.id) "
        f"WHERE {item}.sku IN {raw_sql.in_list(skus)} AND {location}.code IN {raw_sql.in_list(codes)} "
        f"ORDER BY {balance}.item_id, {balance}.location_id{raw_sql.for_update(balance)}"
    )
    widths = [len(model._meta.concrete_fields) for model in (Balance, Item)]
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*skus, *codes])
        for values in cursor.fetchall():
            row = raw_sql.instance(Balance, values[: widths[0]])
            row.item = raw_sql.instance(Item, values[widths[0] : sum(widths)])
            row.location = raw_sql.instance(Location, values[sum(widths) :])
            if (row.item.sku, row.location.code) in wanted:
                found[(row.item.sku, row.location.code)] = row
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


def lock_reservation(item: Item, location: Location, holder: str) -> Reservation:
    reservation = Reservation.objects.select_for_update().filter(holder=holder, item=item, location=location).first()
    if reservation is None:
        raise ReservationNotFound(holder, item.sku, location.code)
    return reservation


def lock_supply(item: Item, location: Location, reference: str) -> InboundSupply:
    supply = InboundSupply.objects.select_for_update().filter(item=item, location=location, reference=reference).first()
    if supply is None:
        raise InboundSupplyNotFound(reference, item.sku, location.code)
    return supply


ReservationKey = tuple[int, int, str]
SupplyKey = tuple[int, int, str]


def _any_of(keys: Sequence[tuple[int, int, str]], name: str) -> Q:
    return reduce(
        or_, (Q(item_id=item_id, location_id=location_id, **{name: value}) for item_id, location_id, value in keys)
    )


def lock_reservations(wanted: Iterable[tuple[Item, Location, str]]) -> dict[ReservationKey, Reservation]:
    """Lock these holders' reservations in (item id, location id, holder) order, in one statement.
    Raises ReservationNotFound for the first one that does not exist."""
    named = {(item.pk, location.pk, holder): (item, location, holder) for item, location, holder in wanted}
    keys = sorted(named)
    if not keys:
        return {}
    rows = (
        Reservation.objects.select_for_update()
        .filter(_any_of(keys, "holder"))
        .order_by("item_id", "location_id", "holder")
    )
    found = {(row.item_id, row.location_id, row.holder): row for row in rows}
    for key in keys:
        if key not in found:
            item, location, holder = named[key]
            raise ReservationNotFound(holder, item.sku, location.code)
    return found


def lock_supplies(
    wanted: Iterable[tuple[Item, Location, str]], *, must_exist: bool = True
) -> dict[SupplyKey, InboundSupply]:
    """Lock these inbound supply records in (item id, location id, reference) order, in one statement.
    Raises InboundSupplyNotFound for the first one that does not exist, unless `must_exist` is False
    (then only those that exist are locked and returned)."""
    named = {(item.pk, location.pk, reference): (item, location, reference) for item, location, reference in wanted}
    keys = sorted(named)
    if not keys:
        return {}
    rows = (
        InboundSupply.objects.select_for_update()
        .filter(_any_of(keys, "reference"))
        .order_by("item_id", "location_id", "reference")
    )
    found = {(row.item_id, row.location_id, row.reference): row for row in rows}
    for key in keys if must_exist else ():
        if key not in found:
            item, location, reference = named[key]
            raise InboundSupplyNotFound(reference, item.sku, location.code)
    return found
