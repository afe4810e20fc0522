"""Every read of suppliers, purchase orders and messages the API, admin and dashboard make.

Message lists never load the raw bodies (`defer("body")`): a page of 100 messages must not pull
100 × 5 MiB through the database connection. Only `inbound_message_raw` reads them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, F, Prefetch, QuerySet
from django.utils import timezone

from inventory import selectors as inventory_selectors
from suppliers.models import (
    IN,
    OPEN_PO_STATUSES,
    InboundMessage,
    OutboundMessage,
    PollAttempt,
    PollStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    ShipNoticeLine,
    Supplier,
    SupplierInvoice,
    SupplierItem,
)


def suppliers(*, active: bool | None = None) -> QuerySet[Supplier]:
    rows = Supplier.objects.order_by("code")
    if active is not None:
        rows = rows.filter(active=active)
    return rows


def supplier_items(*, supplier: str | None = None, sku: str | None = None) -> QuerySet[SupplierItem]:
    rows = SupplierItem.objects.select_related("supplier").order_by("supplier__code", "supplier_part")
    if supplier:
        rows = rows.filter(supplier__code=supplier)
    if sku:
        rows = rows.filter(sku=sku)
    return rows


def purchase_orders(*, status: str | None = None, supplier: str | None = None) -> QuerySet[PurchaseOrder]:
    rows = PurchaseOrder.objects.select_related("supplier").prefetch_related(
        Prefetch("lines", queryset=PurchaseOrderLine.objects.order_by("line_no")),
        Prefetch("outbound", queryset=OutboundMessage.objects.defer("body").order_by("id")),
    )
    if status:
        rows = rows.filter(status=status)
    if supplier:
        rows = rows.filter(supplier__code=supplier)
    return rows.order_by("-pk")


def open_purchase_orders_for(*, sku: str) -> QuerySet[PurchaseOrder]:
    """Orders still expected to deliver a SKU (for the dashboard's replenishment page)."""
    return purchase_orders().filter(status__in=OPEN_PO_STATUSES, lines__sku=sku).distinct()


def inbound_messages(
    *, status: str | None = None, supplier: str | None = None, message_format: str | None = None
) -> QuerySet[InboundMessage]:
    rows = (
        InboundMessage.objects.defer("body")
        .select_related("supplier")
        .prefetch_related(Prefetch("responses", queryset=OutboundMessage.objects.defer("body").order_by("id")))
    )
    if status:
        rows = rows.filter(status=status)
    if supplier:
        rows = rows.filter(supplier__code=supplier)
    if message_format:
        rows = rows.filter(format=message_format)
    return rows.order_by("-pk")


def quarantined_messages(*, supplier: str | None = None) -> QuerySet[InboundMessage]:
    return inbound_messages(status=IN.QUARANTINED, supplier=supplier).order_by("received_at", "pk")


def message_counts(*, since: datetime | None = None) -> dict[str, int]:
    """Messages per status (all time, or received since `since`): the dashboard's and metrics' figures."""
    rows = InboundMessage.objects.all()
    if since is not None:
        rows = rows.filter(received_at__gte=since)
    counts = {status: 0 for status in IN.values}
    for row in rows.values("status").annotate(n=Count("pk")).order_by():
        counts[row["status"]] = row["n"]
    return counts


def inbound_message_raw(*, message_id: int) -> tuple[bytes, str] | None:
    """The stored bytes exactly as received, and the content type they came with."""
    row = InboundMessage.objects.filter(pk=message_id).values_list("body", "content_type").first()
    if row is None:
        return None
    return bytes(row[0]), row[1]


def poll_dead_letters(*, since: datetime | None = None, limit: int = 100) -> QuerySet[PollAttempt]:
    """Failed polls (after their last retry), newest first: the dashboard's dead-letter list."""
    since = since or timezone.now() - timedelta(days=7)
    return (
        PollAttempt.objects.select_related("supplier")
        .filter(status=PollStatus.FAILED, finished_at__gte=since)
        .order_by("-finished_at")[:limit]
    )


def invoice_mismatches(*, limit: int = 100) -> QuerySet[SupplierInvoice]:
    return (
        SupplierInvoice.objects.select_related("supplier", "purchase_order")
        .filter(match_status="mismatch")
        .order_by("-pk")[:limit]
    )


def late_purchase_orders(*, today=None) -> QuerySet[PurchaseOrder]:
    """Open orders with a line whose confirmed date has passed and that is not fully received."""
    today = today or timezone.localdate()
    return (
        purchase_orders()
        .filter(
            status__in=OPEN_PO_STATUSES,
            lines__expected_date__lt=today,
            lines__qty_received__lt=F("lines__qty_confirmed"),
        )
        .distinct()
    )


# --- What a purchase order still expects ------------------------------------------------------


def open_shipments(lines: Iterable[PurchaseOrderLine]) -> dict[int, list[ShipNoticeLine]]:
    """Ship notice lines of these PO lines not yet received in full, oldest first, by PO line id (one query)."""
    found: dict[int, list[ShipNoticeLine]] = defaultdict(list)
    rows = (
        ShipNoticeLine.objects.filter(po_line__in=[line.pk for line in lines], qty_received__lt=F("qty"))
        .select_related("notice__supplier")
        .order_by("notice_id", "line_no")
    )
    for shipped in rows:
        found[shipped.po_line_id].append(shipped)
    return found


def open_inbound(
    order: PurchaseOrder,
    lines: Iterable[PurchaseOrderLine],
    shipments: dict[int, list[ShipNoticeLine]] | None = None,
) -> dict[str, int]:
    """Inbound supply still expected per reference: the PO lines' own, and their open ship notice lines'."""
    refs: dict[str, str] = {line.inbound_reference: line.sku for line in lines}
    for shipped_lines in (shipments or {}).values():
        refs.update({shipped.inbound_reference: shipped.sku for shipped in shipped_lines})
    found: dict[str, int] = {}
    for sku in sorted(set(refs.values())):
        for supply in inventory_selectors.inbound_for(sku=sku, location=order.destination).filter(
            reference__in=[ref for ref, of in refs.items() if of == sku]
        ):
            found[supply.reference] = supply.quantity
    return found
