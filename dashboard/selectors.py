"""The dashboard's reads: each page's figures, built on the domain apps' selectors.

Every function here issues a fixed number of queries whatever the data size (the tests hold each
page to that), so lists are paginated in the database and per-row figures are annotations or one
grouped query over the rows of the page, never a query per row.

Apps that are not installed yet (their selectors missing) make their figures `None`; the pages
say "not available yet" instead of failing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import (
    Case,
    Count,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.functional import cached_property

from inventory import selectors as stock
from inventory.models import SELLABLE_KINDS, InboundSupply, LedgerEntry
from orders import selectors as order_selectors
from orders.models import OPEN_STATUSES, STATUS_COLOURS, OrderStatus, SalesOrder
from orders.references import order_id_from_ref

CHART_DAYS = 30


def page_size() -> int:
    return getattr(settings, "DASHBOARD_PAGE_SIZE", 50)


# --- Which domain apps have landed ------------------------------------------------------------


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _provides(module_name: str, *names: str) -> Any:
    """The module when it defines every one of `names`, else None (the feature is not built yet)."""
    module = _module(module_name)
    if module is None or not all(hasattr(module, name) for name in names):
        return None
    return module


def shipment_selectors():
    return _provides("shipments.selectors", "late_shipments", "shipment_get", "shipments", "tracking_updates")


def supplier_selectors():
    return _provides(
        "suppliers.selectors", "quarantined_messages", "poll_dead_letters", "inbound_messages", "inbound_message_raw"
    )


def supplier_services():
    return _provides("suppliers.inbound", "inbound_message_reprocess")


def purchase_order_service():
    return _provides("suppliers.services", "purchase_order_create_draft")


def webhook_selectors():
    return _provides("scm.webhooks.selectors", "webhook_endpoint_list")


# --- Pagination -------------------------------------------------------------------------------


@dataclass
class Listing:
    """A page of rows plus what the page needs to draw its pager."""

    page: Page
    problems: list[str] = field(default_factory=list)

    @cached_property
    def rows(self) -> list:
        return list(self.page.object_list)


def paginate(rows, number: int | None, *, per_page: int | None = None) -> Listing:
    """Page `number` of `rows` (1 when unset); a page past the end shows the last one and says so."""
    paginator = Paginator(rows, per_page or page_size(), allow_empty_first_page=True)
    problems = []
    wanted = number or 1
    if wanted > paginator.num_pages:
        problems.append(f"There is no page {wanted}; showing page {paginator.num_pages}, the last one.")
        wanted = paginator.num_pages
    return Listing(page=paginator.page(wanted), problems=problems)


# --- Overview ---------------------------------------------------------------------------------


@dataclass
class Overview:
    orders_by_status: list[dict]
    open_orders: int
    late_orders: int
    fill_rate: float | None
    fill_demand: int
    fill_served: int
    backorder_units: int
    backordered_orders: int
    late_shipments: int | None
    at_risk_shipments: int | None
    quarantined_messages: int | None
    failed_polls: int | None
    dead_webhooks: int | None
    chart: dict


def _today(now: datetime) -> date:
    return timezone.localdate(now)


def late_orders_q(today: date) -> Q:
    """An order is late when it is still open after the date the customer asked for."""
    return Q(status__in=OPEN_STATUSES, requested_date__lt=today)


def backorder_units_expr():
    return F("lines__ordered") - F("lines__reserved") - F("lines__shipped") - F("lines__cancelled")


BACKORDER_STATUSES = (OrderStatus.BACKORDERED, OrderStatus.RESERVED, OrderStatus.PARTIALLY_FULFILLED)


def overview(*, now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    today = _today(now)
    counts = dict(
        order_selectors.orders().order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    by_status = [
        {"status": value, "label": label, "count": counts.get(value, 0), "colour": STATUS_COLOURS[value]}
        for value, label in OrderStatus.choices
    ]
    late = order_selectors.orders().filter(late_orders_q(today)).count()

    since = now - timedelta(days=CHART_DAYS)
    fill = (
        order_selectors.orders()
        .filter(created_at__gte=since)
        .exclude(status=OrderStatus.CANCELLED)
        .order_by()
        .aggregate(
            demand=Coalesce(Sum(F("lines__ordered") - F("lines__cancelled")), 0),
            served=Coalesce(Sum(F("lines__reserved") + F("lines__shipped")), 0),
        )
    )
    backorders = (
        order_selectors.orders()
        .filter(status__in=BACKORDER_STATUSES)
        .order_by()
        .aggregate(
            units=Coalesce(Sum(backorder_units_expr()), 0),
            orders=Count("id", distinct=True, filter=Q(status=OrderStatus.BACKORDERED)),
        )
    )
    late_ship = at_risk = None
    shipping = shipment_selectors()
    if shipping is not None:
        listed = shipping.late_shipments(now=now)
        late_ship = sum(1 for row in listed if row.risk == "late")
        at_risk = len(listed) - late_ship
    quarantined = failed_polls = None
    supplying = supplier_selectors()
    if supplying is not None:
        quarantined = supplying.quarantined_messages().count()
        failed_polls = supplying.poll_dead_letters().count()
    return Overview(
        orders_by_status=by_status,
        open_orders=sum(counts.get(s, 0) for s in OPEN_STATUSES),
        late_orders=late,
        fill_rate=(fill["served"] / fill["demand"]) if fill["demand"] else None,
        fill_demand=fill["demand"],
        fill_served=fill["served"],
        backorder_units=backorders["units"],
        backordered_orders=backorders["orders"],
        late_shipments=late_ship,
        at_risk_shipments=at_risk,
        quarantined_messages=quarantined,
        failed_polls=failed_polls,
        dead_webhooks=dead_webhook_count(),
        chart=activity_chart(now=now),
    )


def activity_chart(*, now: datetime | None = None, days: int = CHART_DAYS) -> dict:
    """Orders created and shipments departed and delivered per day over the last `days` days."""
    now = now or timezone.now()
    first = _today(now) - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min))
    labels = [first + timedelta(days=n) for n in range(days)]

    def per_day(rows: QuerySet, column: str) -> list[int]:
        found = dict(
            rows.filter(**{f"{column}__gte": since})
            .order_by()
            .annotate(day=TruncDate(column))
            .values("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )
        return [found.get(day, 0) for day in labels]

    series = {"orders": per_day(order_selectors.orders().select_related(None), "created_at")}
    shipping = shipment_selectors()
    if shipping is not None:
        base = shipping.shipments().prefetch_related(None).select_related(None)
        series["departed"] = per_day(base, "departed_at")
        series["delivered"] = per_day(base, "delivered_at")
    return {"days": [day.isoformat() for day in labels], "series": series}


def dead_webhook_count() -> int | None:
    hooks = webhook_selectors()
    if hooks is None:
        return None
    return hooks.webhook_endpoint_list().aggregate(total=Coalesce(Sum("dead_count"), 0))["total"]


# --- Inventory positions ----------------------------------------------------------------------

POSITION_SORTS = ("sku", "location", "on_hand", "reserved", "available", "inbound", "next_expected", "days_of_cover")


@dataclass(frozen=True)
class Position:
    """One balance with the figures the positions table shows and sorts by."""

    balance_id: int
    sku: str
    location: str
    on_hand: int
    reserved: int
    inbound: int
    available: int
    next_expected: date | None
    demand: int
    reorder_point: int
    days_of_cover: float | None
    below_reorder: bool


def positions(
    *,
    search: str = "",
    location: str = "",
    below_reorder: bool = False,
    sort: str = "sku",
    now: datetime | None = None,
) -> list[Position]:
    """Every balance matching the filters with available, next expected date, days of cover and the
    reorder flag, sorted by `sort` (a POSITION_SORTS key, "-" for descending; empty values last).

    Three queries whatever the size: the balances, the shipped demand per balance over the
    window, and the next expected date per balance; the figures are computed here, so each is
    worked out once per row. Demand, reorder point and the reorder flag are inventory's
    (`shipped_demand`, `reorder_point`, `below_reorder_point`), the ones its replenishment
    suggestions use, so a row is flagged exactly when the replenishment page suggests reordering it.
    Days of cover is available units over daily demand (None when nothing shipped in the window).
    """
    now = now or timezone.now()
    rows = stock.balances(location=location or None)
    if search:
        rows = rows.filter(Q(item__sku__icontains=search) | Q(item__name__icontains=search))
    wanted = rows.values("item_id")
    window = stock.DEMAND_WINDOW_DAYS
    demand = stock.shipped_demand(since=now - timedelta(days=window), until=now, items=wanted)
    next_dates = stock.next_expected_dates(items=wanted)
    found = []
    for row in rows.values(*_POSITION_COLUMNS).order_by():
        key = (row["item_id"], row["location_id"])
        position = _position(row, demand=demand.get(key, 0), window=window, next_expected=next_dates.get(key))
        if position.below_reorder or not below_reorder:
            found.append(position)
    return _sorted_positions(found, sort)


_POSITION_COLUMNS = (
    "pk",
    "item_id",
    "location_id",
    "item__sku",
    "location__code",
    "on_hand",
    "reserved",
    "inbound",
    "item__reorder_point",
    "item__lead_time_days",
    "item__safety_stock",
    "item__active",
    "location__active",
    "location__kind",
)


def _position(row: dict[str, Any], *, demand: int, window: int, next_expected: date | None) -> Position:
    """One balance row's figures, with inventory's reorder rule."""
    daily = demand / window
    point = stock.reorder_point(
        explicit=row["item__reorder_point"],
        daily_demand=daily,
        lead_time_days=row["item__lead_time_days"],
        safety_stock=row["item__safety_stock"],
    )
    available = row["on_hand"] - row["reserved"]
    flagged = (
        row["item__active"]
        and row["location__active"]
        and row["location__kind"] in SELLABLE_KINDS
        and stock.below_reorder_point(point=point, daily_demand=daily, position=available + row["inbound"])
    )
    return Position(
        balance_id=row["pk"],
        sku=row["item__sku"],
        location=row["location__code"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
        inbound=row["inbound"],
        available=available,
        next_expected=next_expected,
        demand=demand,
        reorder_point=point,
        days_of_cover=available / daily if daily else None,
        below_reorder=bool(flagged),
    )


def _sorted_positions(found: list[Position], sort: str) -> list[Position]:
    """Sorted by a POSITION_SORTS key ("-" for descending), rows without a value last; SKU, then
    location, breaks ties."""
    key_name = sort.lstrip("-") if sort.lstrip("-") in POSITION_SORTS else "sku"
    found.sort(key=lambda p: (p.sku, p.location))
    if key_name != "sku":
        present = [p for p in found if getattr(p, key_name) is not None]
        missing = [p for p in found if getattr(p, key_name) is None]
        present.sort(key=lambda p: getattr(p, key_name), reverse=sort.startswith("-"))
        return present + missing
    return found[::-1] if sort.startswith("-") else found


def hydrate_positions(listing: Listing) -> Listing:
    """Give the page's rows their item and location (one query for the page), for the template."""
    page_rows: list[Position] = list(listing.page.object_list)
    balances = stock.balances_by_id([p.balance_id for p in page_rows])
    shown = []
    for position in page_rows:
        balance = balances[position.balance_id]
        balance.position = position
        shown.append(balance)
    listing.page.object_list = shown
    return listing


@dataclass
class SkuPage:
    item: Any
    as_of: datetime | None
    balances: list[dict]
    location: str | None
    locations: list[str]
    history: list[tuple[str, int]]
    ledger: list[LedgerEntry]
    inbound: list[InboundSupply]


def sku_page(*, sku: str, location: str | None, as_of: date | None, now: datetime | None = None) -> SkuPage:
    """One SKU: balances per location (now, or at the end of the `as_of` day), the on-hand history of
    one location over the 30 days up to then, its ledger up to then, and open inbound supply."""
    item = stock.get_item(sku)
    now = now or timezone.now()
    at = timezone.make_aware(datetime.combine(as_of, time.max)) if as_of else None
    end = min(at, now) if at else now
    if at is None:
        current = [
            {
                "location": b.location.code,
                "on_hand": b.on_hand,
                "reserved": b.reserved,
                "available": b.available,
                "inbound": b.inbound,
            }
            for b in stock.balances(sku=sku)
        ]
    else:
        current = [
            {
                "location": b.location,
                "on_hand": b.on_hand,
                "reserved": b.reserved,
                "available": b.available,
                "inbound": b.inbound,
            }
            for b in stock.balances_as_of(at, sku=sku)
        ]
    codes = [row["location"] for row in current]
    chosen = location if location in codes else (codes[0] if codes else None)
    history: list[tuple[str, int]] = []
    ledger_rows: list[LedgerEntry] = []
    if chosen:
        points = stock.on_hand_history(sku=sku, location=chosen, since=end - timedelta(days=CHART_DAYS))
        history = [(when.isoformat(), qty) for when, qty in points if when <= end]
        if history:
            history.append((end.isoformat(), history[-1][1]))
        ledger_rows = list(stock.ledger(sku=sku, location=chosen, until=end, limit=100))
    return SkuPage(
        item=item,
        as_of=at,
        balances=current,
        location=chosen,
        locations=codes,
        history=history,
        ledger=ledger_rows,
        inbound=list(stock.inbound_for(sku=sku)),
    )


# --- Orders -----------------------------------------------------------------------------------


def order_list(
    *, status: str = "", customer: str = "", late: bool = False, now: datetime | None = None
) -> QuerySet[SalesOrder]:
    """Orders newest first, with units ordered and still short, filtered by status, customer, lateness."""
    today = _today(now or timezone.now())
    rows = order_selectors.orders(status=status or None, customer=customer or None)
    if late:
        rows = rows.filter(late_orders_q(today))
    return rows.annotate(
        line_count=Count("lines"),
        units=Coalesce(Sum("lines__ordered"), 0),
        short_units=Coalesce(Sum(backorder_units_expr()), 0),
        is_late=Case(When(late_orders_q(today), then=Value(True)), default=Value(False)),
    )


@dataclass
class OrderPage:
    order: SalesOrder
    lines: list
    history: list[dict]
    workflow: Any
    shipments: list | None
    is_late: bool
    can_cancel: bool
    can_retry: bool


def order_page(*, order_id: int, now: datetime | None = None) -> OrderPage | None:
    order = order_selectors.order_detail(order_id=order_id)
    if order is None:
        return None
    today = _today(now or timezone.now())
    shipping = shipment_selectors()
    shipment_rows = list(shipping.shipments(order=str(order.pk)).order_by("pk")) if shipping else None
    workflow = getattr(order, "workflow", None)
    return OrderPage(
        order=order,
        lines=list(order.lines.all()),
        history=order_selectors.order_history(order_id=order.pk),
        workflow=workflow,
        shipments=shipment_rows,
        is_late=order.status in OPEN_STATUSES and bool(order.requested_date and order.requested_date < today),
        can_cancel=order.status not in (OrderStatus.FULFILLED, OrderStatus.CANCELLED),
        can_retry=order.status == OrderStatus.FAILED,
    )


def customer_known(code: str) -> bool:
    from orders.selectors import customer_exists

    return customer_exists(code=code)


def location_codes() -> list[str]:
    return [place.code for place in stock.active_locations()]


# --- Replenishment ----------------------------------------------------------------------------


def replenishment(*, location: str = "", now: datetime | None = None) -> list:
    return stock.replenishment_suggestions(location=location or None, now=now, window_days=stock.DEMAND_WINDOW_DAYS)


@dataclass(frozen=True)
class PickedRow:
    sku: str
    location: str
    qty: int


def parse_picked_rows(data) -> tuple[list[PickedRow], list[str]]:
    """Ticked suggestion rows from the replenishment form: `pick` = "SKU@LOCATION", `qty-SKU@LOCATION`."""
    picked, problems = [], []
    for key in data.getlist("pick"):
        sku, _, location = key.rpartition("@")
        raw = data.get(f"qty-{key}", "")
        try:
            qty = int(raw)
        except (TypeError, ValueError):
            problems.append(f"Skipped {sku} at {location}: quantity {raw!r} is not a whole number.")
            continue
        if not sku or not location or qty <= 0:
            problems.append(f"Skipped {key!r}: it needs a SKU, a location and a quantity above zero.")
            continue
        picked.append(PickedRow(sku=sku, location=location, qty=qty))
    return picked, problems


# --- Shipments, webhooks ----------------------------------------------------------------------


def order_id_of(order_ref: str) -> int | None:
    """42 for "order-42"; None for a transfer or anything else."""
    return order_id_from_ref(order_ref)


def dead_webhook_deliveries() -> QuerySet:
    """Deliveries that gave up, across all endpoints, newest first."""
    from scm.webhooks.selectors import webhook_dead_deliveries

    return webhook_dead_deliveries()


def suppliers_for_skus(skus: list[str]) -> dict[str, tuple[str, str]]:
    """SKU → (supplier code, supplier part) for the SKUs some active supplier lists; the first
    supplier by code wins when several list it. One query."""
    from suppliers import selectors as supplier_reads

    found: dict[str, tuple[str, str]] = {}
    rows = (
        supplier_reads.supplier_items()
        .filter(sku__in=skus, supplier__active=True)
        .order_by("sku", "supplier__code", "supplier_part")
        .values_list("sku", "supplier__code", "supplier_part")
    )
    for sku, supplier, part in rows:
        found.setdefault(sku, (supplier, part))
    return found
