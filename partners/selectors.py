"""Reads of partner transport for the dashboard and the admin: dead letters, and a purchase order's
way to the supplier (its outbox entries, tries, AS2 MDNs, and the events of every step).

Reads of the suppliers app's rows (purchase orders, their lines) go through these joins only; this
app never writes them."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from partners.models import OUT, As2Direction, As2Message, DeliveryAttempt, OutboxEntry
from scm.events.models import Event
from scm.events.store import RecordedEvent, read_stream
from suppliers.models import PurchaseOrder

#: What each event of a PO's story says on the PO page, in the words a planner uses.
STEP_LABELS = {
    "PurchaseOrderCreated": "Created",
    "PurchaseOrderSent": "Built (850)",
    "PartnerDocumentQueued": "Queued for transmission",
    "PartnerDocumentTransmitted": "Transmitted",
    "PartnerMdnReceived": "MDN received",
    "PartnerDocumentDelivered": "Delivered",
    "PartnerDocumentDeadLettered": "Transmission failed (dead letter)",
    "PartnerDocumentResent": "Resent by ops",
    "FunctionalAckReceived": "997 received",
    "PurchaseOrderAcknowledged": "Acknowledged (855)",
    "ShipNoticeReceived": "Ship notice (856)",
    "PurchaseOrderReceived": "Received",
    "PurchaseOrderCancelled": "Cancelled",
    "PurchaseOrderClosed": "Closed",
}


def outbox_dead_letters() -> QuerySet[OutboxEntry]:
    """Entries that gave up, newest first, with what the page shows (one query)."""
    return (
        OutboxEntry.objects.filter(status=OUT.DEAD)
        .select_related("connection__supplier", "document")
        .order_by("-dead_at", "-pk")
    )


def outbox_dead_count() -> int:
    return OutboxEntry.objects.filter(status=OUT.DEAD).count()


def purchase_orders_recent() -> QuerySet[PurchaseOrder]:
    return PurchaseOrder.objects.select_related("supplier").order_by("-id")


@dataclass(frozen=True)
class Step:
    event: RecordedEvent
    label: str


@dataclass(frozen=True)
class PurchaseOrderTransport:
    order: PurchaseOrder
    lines: list
    entries: list[OutboxEntry]
    steps: list[Step]


def purchase_order_transport(*, number: str) -> PurchaseOrderTransport | None:
    """A PO with its outbound documents' transport and its story as events (a fixed number of queries)."""
    order = PurchaseOrder.objects.select_related("supplier").filter(number=number).first()
    if order is None:
        return None
    entries = list(
        OutboxEntry.objects.filter(purchase_order=number)
        .select_related("connection", "document")
        .prefetch_related(
            Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("pk")),
            Prefetch(
                "as2_messages",
                queryset=As2Message.objects.filter(direction=As2Direction.OUT).defer("body", "mdn_body"),
            ),
        )
        .order_by("pk")
    )
    events = list(read_stream(order.stream))
    acks = Event.objects.filter(
        stream=f"supplier-{order.supplier.code}", type="FunctionalAckReceived", payload__purchase_order=number
    ).order_by("position")
    events += [RecordedEvent.from_row(row) for row in acks]
    events.sort(key=lambda e: e.position)
    steps = [Step(event=e, label=STEP_LABELS.get(e.type, e.type)) for e in events]
    return PurchaseOrderTransport(
        order=order, lines=list(order.lines.order_by("line_no")), entries=entries, steps=steps
    )
