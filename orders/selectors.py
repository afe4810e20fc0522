"""Reads of orders for the API and the dashboard."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min, Prefetch, QuerySet

from orders.models import Allocation, Customer, FulfillmentWorkflow, OrderLine, SalesOrder
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
    if event.type == "OrderWaiting":
        return f"Waiting: {p['waiting_for']}", f"{p['step']} step: {p['error']}; stock stays reserved"
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


def waiting_workflows() -> QuerySet[FulfillmentWorkflow]:
    """Workflows waiting for missing configuration, longest waiting first, with their orders and
    customers: the dashboard's list of waiting orders."""
    return (
        FulfillmentWorkflow.objects.exclude(waiting_for="")
        .select_related("order", "order__customer")
        .order_by("waiting_since", "order_id")
    )


def waiting_counts() -> dict[str, int]:
    """How many workflows wait, per reason ("no carrier configured": 12). Empty when none waits.
    One grouped query on the partial index of waiting rows; metrics and readiness read this."""
    rows = (
        FulfillmentWorkflow.objects.exclude(waiting_for="").order_by().values("waiting_for").annotate(count=Count("id"))
    )
    return {row["waiting_for"]: row["count"] for row in rows}


def oldest_waiting_since() -> datetime | None:
    """When the longest-waiting workflow started waiting (None when none waits)."""
    return FulfillmentWorkflow.objects.exclude(waiting_for="").aggregate(since=Min("waiting_since"))["since"]
