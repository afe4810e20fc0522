"""Every read of stock the API, dashboard and other apps make."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Min, Q, QuerySet, Sum
from django.utils import timezone

from inventory.exceptions import UnknownLocation, UnknownSku
from inventory.models import (
    SELLABLE_KINDS,
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

# --- Items and locations by key ---------------------------------------------------------------


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


def get_locations(codes: Iterable[str]) -> dict[str, Location]:
    """Locations by code in one query; the first unknown code (in the order given) raises UnknownLocation."""
    wanted = list(dict.fromkeys(codes))
    found = {location.code: location for location in Location.objects.filter(code__in=wanted)}
    for code in wanted:
        if code not in found:
            raise UnknownLocation(code)
    return found


# --- Current balances -------------------------------------------------------------------------


def balances(*, sku: str | None = None, location: str | None = None) -> QuerySet[Balance]:
    rows = Balance.objects.select_related("item", "location").order_by("item__sku", "location__code")
    if sku:
        rows = rows.filter(item__sku=sku)
    if location:
        rows = rows.filter(location__code=location)
    return rows


def balance_for(*, sku: str, location: str) -> Balance | None:
    return balances(sku=sku, location=location).first()


def balances_by_id(ids: list[int]) -> dict[int, Balance]:
    """Balances with their item and location, by id (one query)."""
    return Balance.objects.select_related("item", "location").in_bulk(ids)


# --- The past ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastBalance:
    sku: str
    location: str
    on_hand: int
    reserved: int
    inbound: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def balances_as_of(
    at: datetime,
    *,
    known_at: datetime | None = None,
    sku: str | None = None,
    location: str | None = None,
) -> list[PastBalance]:
    """Balances as they were at `at` (by effective time), from the ledger.

    With `known_at`, only what had been recorded by then counts: "what did we believe at
    known_at about the stock at `at`" — the audit view, unaffected by later backdated entries.
    """
    rows = LedgerEntry.objects.filter(effective_at__lte=at)
    if known_at is not None:
        rows = rows.filter(recorded_at__lte=known_at)
    if sku:
        rows = rows.filter(item__sku=sku)
    if location:
        rows = rows.filter(location__code=location)
    totals: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {b: 0 for b in Bucket.values})
    for row in rows.values("item__sku", "location__code", "bucket").annotate(total=Sum("quantity")).order_by():
        totals[(row["item__sku"], row["location__code"])][row["bucket"]] = row["total"]
    return [
        PastBalance(
            sku=s, location=loc, on_hand=t[Bucket.ON_HAND], reserved=t[Bucket.RESERVED], inbound=t[Bucket.INBOUND]
        )
        for (s, loc), t in sorted(totals.items())
    ]


def ledger(
    *, sku: str, location: str | None = None, until: datetime | None = None, limit: int = 200
) -> QuerySet[LedgerEntry]:
    """The SKU's ledger rows, newest effective time first; `until` leaves out rows effective later."""
    rows = LedgerEntry.objects.select_related("item", "location").filter(item__sku=sku)
    if location:
        rows = rows.filter(location__code=location)
    if until is not None:
        rows = rows.filter(effective_at__lte=until)
    return rows.order_by("-effective_at", "-id")[:limit]


def on_hand_history(*, sku: str, location: str, since: datetime) -> list[tuple[datetime, int]]:
    """On hand after each movement since `since`, by effective time (for balance charts)."""
    base = (
        LedgerEntry.objects.filter(
            item__sku=sku, location__code=location, bucket=Bucket.ON_HAND, effective_at__lt=since
        ).aggregate(total=Sum("quantity"))["total"]
        or 0
    )
    points = [(since, base)]
    running = base
    movements = LedgerEntry.objects.filter(
        item__sku=sku, location__code=location, bucket=Bucket.ON_HAND, effective_at__gte=since
    ).order_by("effective_at", "id")
    for effective_at, quantity in movements.values_list("effective_at", "quantity"):
        running += quantity
        points.append((effective_at, running))
    return points


# --- Available to promise ---------------------------------------------------------------------


@dataclass
class AtpAnswer:
    sku: str
    requested: int
    available_now: int
    locations: list[dict] = field(default_factory=list)
    inbound: list[dict] = field(default_factory=list)
    promise: list[dict] = field(default_factory=list)
    can_promise_now: bool = False
    complete_by: date | None = None
    shortfall: int = 0


def available_to_promise(*, sku: str, qty: int, today: date | None = None) -> AtpAnswer:
    """How many units of `sku` can be promised now, where they are, and when the rest can come.

    Stock counts at sellable locations (warehouses and stores). Open inbound supply is added by
    expected date; supply already overdue counts from today. `promise` is the cumulative quantity
    promisable by each date, stopping once `qty` is covered.
    """
    item = get_item(sku)
    today = today or timezone.localdate()
    stock = (
        Balance.objects.filter(item=item, location__kind__in=SELLABLE_KINDS, location__active=True)
        .select_related("location")
        .order_by("location__allocation_rank", "location__code")
    )
    locations = [
        {"location": b.location.code, "on_hand": b.on_hand, "reserved": b.reserved, "available": b.available}
        for b in stock
        if b.available > 0
    ]
    now_total = sum(entry["available"] for entry in locations)
    supplies = (
        InboundSupply.objects.filter(item=item, quantity__gt=0, location__kind__in=SELLABLE_KINDS)
        .select_related("location")
        .order_by("expected_date", "id")
    )
    inbound = [
        {
            "location": s.location.code,
            "qty": s.quantity,
            "expected_date": max(s.expected_date, today),
            "reference": s.reference,
            "source": s.source,
        }
        for s in supplies
    ]
    answer = AtpAnswer(sku=sku, requested=qty, available_now=now_total, locations=locations, inbound=inbound)
    cumulative = now_total
    answer.promise.append({"date": today, "qty": min(cumulative, qty), "cumulative": cumulative})
    if cumulative >= qty:
        answer.can_promise_now, answer.complete_by = True, today
        return answer
    for supply in inbound:
        cumulative += supply["qty"]
        if answer.promise[-1]["date"] == supply["expected_date"]:
            answer.promise[-1].update(qty=min(cumulative, qty), cumulative=cumulative)
        else:
            answer.promise.append(
                {"date": supply["expected_date"], "qty": min(cumulative, qty), "cumulative": cumulative}
            )
        if cumulative >= qty:
            answer.complete_by = supply["expected_date"]
            break
    answer.shortfall = max(0, qty - cumulative)
    return answer


def inbound_quantities(keys: Iterable[tuple[str, str, str]]) -> dict[str, int]:
    """Units still expected per reference, for (reference, sku, location code) keys, in one query."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = InboundSupply.objects.filter(reference__in={key[0] for key in wanted}, quantity__gt=0).values_list(
        "reference", "item__sku", "location__code", "quantity"
    )
    return {reference: qty for reference, sku, code, qty in rows if (reference, sku, code) in wanted}


def inbound_for(*, sku: str, location: str | None = None) -> QuerySet[InboundSupply]:
    rows = InboundSupply.objects.select_related("item", "location").filter(item__sku=sku, quantity__gt=0)
    if location:
        rows = rows.filter(location__code=location)
    return rows.order_by("expected_date", "id")


# --- Replenishment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    sku: str
    location: str
    on_hand: int
    reserved: int
    available: int
    inbound: int
    position: int
    daily_demand: float
    reorder_point: int
    order_up_to: int
    suggested_qty: int
    days_of_cover: float | None


DEMAND_WINDOW_DAYS = 28
"""Days of shipments that make "demand" for replenishment and the dashboard's positions."""

BalanceKey = tuple[int, int]


def shipped_demand(*, since: datetime, until: datetime, items: Any = None) -> dict[BalanceKey, int]:
    """Units shipped out of each balance (item id, location id) with effective time in [since, until].
    `items` (item ids, or a subquery of them) narrows it."""
    rows = LedgerEntry.objects.filter(
        reason=Reason.SHIPMENT, bucket=Bucket.ON_HAND, effective_at__gte=since, effective_at__lte=until
    )
    if items is not None:
        rows = rows.filter(item_id__in=items)
    return {
        (row["item_id"], row["location_id"]): -row["total"]
        for row in rows.values("item_id", "location_id").annotate(total=Sum("quantity")).order_by()
    }


def next_expected_dates(*, items: Any) -> dict[BalanceKey, date]:
    """The earliest expected date of open inbound supply per balance, for these items."""
    return {
        (row["item_id"], row["location_id"]): row["first"]
        for row in InboundSupply.objects.filter(item_id__in=items, quantity__gt=0)
        .values("item_id", "location_id")
        .annotate(first=Min("expected_date"))
        .order_by()
    }


def reorder_point(*, explicit: int | None, daily_demand: float, lead_time_days: int, safety_stock: int) -> int:
    """The item's explicit reorder point, else demand over the lead time plus safety stock."""
    if explicit is not None:
        return explicit
    return math.ceil(daily_demand * lead_time_days) + safety_stock


def below_reorder_point(*, point: int, daily_demand: float, position: int) -> bool:
    """Whether a balance should be reordered: its position (available + inbound) is at or below the
    reorder point, unless there is neither a reorder point nor any demand."""
    if point <= 0 and daily_demand == 0:
        return False
    return position <= point


def replenishment_suggestions(
    *,
    location: str | None = None,
    sku: str | None = None,
    window_days: int = DEMAND_WINDOW_DAYS,
    now: datetime | None = None,
) -> list[Suggestion]:
    """What to reorder, where and how much.

    Demand is what shipped out of each balance over the last `window_days`. The reorder point
    is the item's explicit one, else demand over the lead time plus safety stock. When the
    position (available + inbound) is at or below it, order up to `max_qty` (or reorder point
    plus a lead time of demand), at least `min_qty`, rounded up to whole packs.
    """
    now = now or timezone.now()
    rows = Balance.objects.select_related("item", "location").filter(
        item__active=True, location__kind__in=SELLABLE_KINDS, location__active=True
    )
    if location:
        rows = rows.filter(location__code=location)
    if sku:
        rows = rows.filter(item__sku=sku)
    demand = shipped_demand(since=now - timedelta(days=window_days), until=now)
    suggestions = []
    for balance in rows.order_by("item__sku", "location__code"):
        daily = demand.get((balance.item_id, balance.location_id), 0) / window_days
        suggestion = _suggestion(balance, daily)
        if suggestion is not None:
            suggestions.append(suggestion)
    return suggestions


def _suggestion(balance: Balance, daily: float) -> Suggestion | None:
    item = balance.item
    point = reorder_point(
        explicit=item.reorder_point,
        daily_demand=daily,
        lead_time_days=item.lead_time_days,
        safety_stock=item.safety_stock,
    )
    position = balance.available + balance.inbound
    if not below_reorder_point(point=point, daily_demand=daily, position=position):
        return None
    order_up_to = item.max_qty if item.max_qty is not None else point + math.ceil(daily * item.lead_time_days)
    quantity = max(order_up_to - position, item.min_qty, 1)
    quantity = math.ceil(quantity / item.pack_size) * item.pack_size
    return Suggestion(
        sku=item.sku,
        location=balance.location.code,
        on_hand=balance.on_hand,
        reserved=balance.reserved,
        available=balance.available,
        inbound=balance.inbound,
        position=position,
        daily_demand=round(daily, 3),
        reorder_point=point,
        order_up_to=order_up_to,
        suggested_qty=quantity,
        days_of_cover=round(balance.available / daily, 1) if daily else None,
    )


# --- Consistency ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    sku: str
    location: str
    field: str
    projection: int
    expected: int
    source: str


def check_balances(*, progress=None) -> list[Discrepancy]:
    """Compare the balance projection with the ledger, open reservations and open inbound supply."""
    ledger_totals: dict[tuple[int, int], dict[str, int]] = defaultdict(lambda: {b: 0 for b in Bucket.values})
    for row in (
        LedgerEntry.objects.values("item_id", "location_id", "bucket").annotate(total=Sum("quantity")).order_by()
    ):
        ledger_totals[(row["item_id"], row["location_id"])][row["bucket"]] = row["total"]
    reservation_totals = {
        (r["item_id"], r["location_id"]): r["total"]
        for r in Reservation.objects.values("item_id", "location_id").annotate(total=Sum("quantity")).order_by()
    }
    inbound_totals = {
        (r["item_id"], r["location_id"]): r["total"]
        for r in InboundSupply.objects.values("item_id", "location_id").annotate(total=Sum("quantity")).order_by()
    }
    skus = dict(Item.objects.values_list("id", "sku"))
    codes = dict(Location.objects.values_list("id", "code"))
    found: list[Discrepancy] = []
    projection = {(b.item_id, b.location_id): b for b in Balance.objects.all()}
    keys = set(projection) | set(ledger_totals) | set(reservation_totals) | set(inbound_totals)
    for index, key in enumerate(sorted(keys)):
        balance = projection.get(key)
        have = {
            Bucket.ON_HAND: balance.on_hand if balance else 0,
            Bucket.RESERVED: balance.reserved if balance else 0,
            Bucket.INBOUND: balance.inbound if balance else 0,
        }
        expectations = [
            (Bucket.ON_HAND, ledger_totals[key][Bucket.ON_HAND], "ledger"),
            (Bucket.RESERVED, ledger_totals[key][Bucket.RESERVED], "ledger"),
            (Bucket.INBOUND, ledger_totals[key][Bucket.INBOUND], "ledger"),
            (Bucket.RESERVED, reservation_totals.get(key, 0), "open reservations"),
            (Bucket.INBOUND, inbound_totals.get(key, 0), "open inbound supply"),
        ]
        for bucket, expected, source in expectations:
            if have[bucket] != expected:
                found.append(Discrepancy(skus[key[0]], codes[key[1]], str(bucket), have[bucket], expected, source))
        done = index + 1
        if progress and (done % 1000 == 0 or done == len(keys)):
            progress(done, len(keys))
    return found


def locations() -> QuerySet[Location]:
    """Every location, active or not, by code (master data screens and the API)."""
    return Location.objects.order_by("code")


def active_locations() -> QuerySet[Location]:
    return (
        Location.objects.filter(active=True).exclude(kind=LocationKind.IN_TRANSIT).order_by("allocation_rank", "code")
    )


def items(*, search: str | None = None) -> QuerySet[Item]:
    rows = Item.objects.all()
    if search:
        rows = rows.filter(Q(sku__icontains=search) | Q(name__icontains=search))
    return rows.order_by("sku")
