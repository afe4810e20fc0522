"""Reads of orders for the API and the dashboard."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from orders.models import Allocation, Customer, OrderLine, SalesOrder
from orders.references import order_ref
from scm.events.store import RecordedEvent, read_stream


def customers() -> QuerySet[Customer]:
    """Every customer by code."""
    return Customer.objects.order_by("code")


def customer_exists(*, code: str) -> bool:
    return Customer.objects.filter(code=code).exists()


def orders(*, status: str | None = None, customer: str | None = None) -> QuerySet[SalesOrder]:
    rows = SalesOrder.objects.select_related("customer", "workflow").order_by("-created_at", "-id")
    if status:
        rows = rows.filter(status=status)
    if customer:
        rows = rows.filter(customer__code=customer)
    return rows


def order_detail(*, order_id: int) -> SalesOrder | None:
    return (
        SalesOrder.objects.select_related("customer", "workflow")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=OrderLine.objects.order_by("line_no").prefetch_related(
                    Prefetch("allocations", queryset=Allocation.objects.order_by("location"))
                ),
            ),
            "shipments",
        )
        .filter(pk=order_id)
        .first()
    )


def order_events(*, order_id: int) -> list[RecordedEvent]:
    return read_stream(order_ref(order_id))


def _describe(event: RecordedEvent) -> tuple[str, str]:
    p = event.payload
    if event.type == "OrderCreated":
        return (
            f"Order created with {len(p['lines'])} line(s)",
            f"external id {p['external_id']}, priority {p['priority']}",
        )
    if event.type in ("OrderReserved", "OrderBackordered"):
        reserved = sum(line["reserved"] for line in p["lines"])
        parts = []
        for line in p["lines"]:
            where = ", ".join(f"{a['qty']} from {a['location']}" for a in line["allocations"]) or "nothing available"
            text = f"{line['sku']}: {where} ({line['rule']})"
            supply = line.get("expected_supply")
            if supply:
                text += f"; {line['backordered']} awaited" + (
                    f", promised by {supply['promise_date']}" if supply["promise_date"] else ", no supply in sight"
                )
            parts.append(text)
        what = (
            f"Reserved {reserved} unit(s)"
            if event.type == "OrderReserved"
            else f"Backordered {p['backordered_units']} unit(s); reserved {reserved}"
        )
        return what, "; ".join(parts)
    if event.type == "OrderPartiallyFulfilled":
        shipped = ", ".join(f"{s['qty']} {s['sku']} from {s['location']}" for s in p["shipped"])
        return "Shipped (partially fulfilled)", f"shipment {p['shipment_id']}: {shipped}"
    if event.type == "OrderFulfilled":
        return "Fulfilled", "last units delivered"
    if event.type == "OrderCancelled":
        return "Cancelled", f"{p['reason']}; released {sum(r['qty'] for r in p['released'])} unit(s)"
    if event.type == "OrderFailed":
        return "Failed", p["reason"]
    if event.type == "OrderRetried":
        return "Retried", f"workflow generation {p['generation']}"
    return event.type, ""


def order_history(*, order_id: int) -> list[dict]:
    """The order's events as a planner reads them: who, what, when, why."""
    history = []
    for event in order_events(order_id=order_id):
        what, why = _describe(event)
        history.append(
            {
                "position": event.position,
                "type": event.type,
                "when": event.occurred_at,
                "who": event.metadata.get("actor") or "system",
                "what": what,
                "why": why,
                "correlation_id": event.metadata.get("correlation_id", ""),
            }
        )
    return history
