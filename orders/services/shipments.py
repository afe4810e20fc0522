"""Shipments as orders see them, fed by shipment events: planned, departed, delivered, cancelled."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from orders.models import (
    NOT_WAITING,
    Allocation,
    FulfillmentWorkflow,
    OrderLine,
    OrderShipment,
    OrderStatus,
    SalesOrder,
    WorkflowStep,
)
from orders.references import line_id_from_holder, order_id_from_ref
from orders.services.common import (
    advance_workflow,
    lock_allocations,
    lock_lines,
    record_event,
    run_transition,
    schedule_workflow,
)


def _order_from_ref(order_ref: str) -> SalesOrder | None:
    order_id = order_id_from_ref(order_ref)
    if order_id is None:
        return None
    return SalesOrder.objects.select_for_update().filter(pk=order_id).first()


def _line_for(order: SalesOrder, holder: str) -> OrderLine:
    return OrderLine.objects.get(order=order, pk=line_id_from_holder(holder))


@transaction.atomic
def order_record_shipment_planned(*, order_ref: str, shipment_id: int, from_location: str, lines: list[dict]) -> None:
    """Remember a planned shipment and count its units as planned (idempotent per shipment)."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    _, created = OrderShipment.objects.get_or_create(
        order=order, shipment_id=shipment_id, defaults={"from_location": from_location, "lines": lines}
    )
    if not created:
        return
    line_ids = [line_id_from_holder(entry["holder"]) for entry in lines]
    if OrderLine.objects.filter(order=order, pk__in=line_ids).count() != len(set(line_ids)):
        raise OrderLine.DoesNotExist(f"a planned line is not a line of {order_ref}")
    for entry, line_id in zip(lines, line_ids, strict=True):
        planned = F("planned") + entry["qty"]
        Allocation.objects.filter(line_id=line_id, location=entry["location"]).update(planned=planned)


@transaction.atomic
def order_record_shipment_departed(*, order_ref: str, shipment_id: int, lines: list[dict]) -> None:
    """Shipped units leave reserved; the order is at least partially fulfilled."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    record, _ = OrderShipment.objects.get_or_create(
        order=order,
        shipment_id=shipment_id,
        defaults={"from_location": lines[0]["location"] if lines else "", "lines": lines},
    )
    if record.departed:
        return
    lock_lines(order)  # the lines, then their allocations: the lock order, whatever order the entries come in
    lock_allocations(order)
    record.departed, record.status = True, "DEPARTED"
    record.save(update_fields=["departed", "status"])
    shipped = []
    for entry in lines:
        line = _line_for(order, entry["holder"])
        line.reserved -= entry["qty"]
        line.shipped += entry["qty"]
        line.save(update_fields=["reserved", "shipped"])
        Allocation.objects.filter(line=line, location=entry["location"]).update(
            reserved=F("reserved") - entry["qty"],
            planned=F("planned") - entry["qty"],
            shipped=F("shipped") + entry["qty"],
        )
        shipped.append({"line_no": line.line_no, "sku": line.sku, "qty": entry["qty"], "location": entry["location"]})
    if order.status == OrderStatus.CANCELLED:
        return
    status_before = order.status
    run_transition(order, "mark_partially_fulfilled")
    order.save()
    totals = list(order.lines.values("line_no", "sku", "ordered", "shipped", "delivered"))
    if all(line["shipped"] >= line["ordered"] for line in totals):
        FulfillmentWorkflow.objects.filter(order=order).update(step=WorkflowStep.AWAIT_DELIVERY, **NOT_WAITING)
    record_event(
        order,
        "OrderPartiallyFulfilled",
        {"previous_status": status_before, "shipment_id": shipment_id, "shipped": shipped, "lines": totals},
    )


@transaction.atomic
def order_record_shipment_delivered(*, order_ref: str, shipment_id: int, lines: list[dict]) -> None:
    """Delivered units count toward fulfilment; the last delivery fulfils the order."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    record = OrderShipment.objects.filter(order=order, shipment_id=shipment_id).first()
    if record is None or record.delivered:
        return
    record.delivered, record.status = True, "DELIVERED"
    record.save(update_fields=["delivered", "status"])
    for entry in lines:
        OrderLine.objects.filter(pk=_line_for(order, entry["holder"]).pk).update(
            delivered=F("delivered") + entry["qty"]
        )
    lines_now = list(order.lines.all())
    if all(line.delivered >= line.ordered - line.cancelled for line in lines_now) and order.status in (
        OrderStatus.PARTIALLY_FULFILLED,
        OrderStatus.RESERVED,
    ):
        status_before = order.status
        run_transition(order, "mark_fulfilled")
        order.save()
        FulfillmentWorkflow.objects.filter(order=order).update(
            step=WorkflowStep.DONE, next_attempt_at=None, **NOT_WAITING
        )
        record_event(
            order,
            "OrderFulfilled",
            {
                "previous_status": status_before,
                "shipment_id": shipment_id,
                "lines": [{"line_no": li.line_no, "sku": li.sku, "delivered": li.delivered} for li in lines_now],
            },
        )


@transaction.atomic
def order_record_shipment_cancelled(*, order_ref: str, shipment_id: int, lines: list[dict]) -> None:
    """A planned shipment was cancelled: its units are reserved but unplanned again; plan anew."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    record = OrderShipment.objects.filter(order=order, shipment_id=shipment_id).first()
    if record is None or record.status == "CANCELLED" or record.departed:
        return
    record.status = "CANCELLED"
    record.save(update_fields=["status"])
    for entry in lines:
        line = _line_for(order, entry["holder"])
        Allocation.objects.filter(line=line, location=entry["location"], planned__gte=entry["qty"]).update(
            planned=F("planned") - entry["qty"]
        )
    if order.status in (OrderStatus.RESERVED, OrderStatus.PARTIALLY_FULFILLED):
        workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
        advance_workflow(workflow, WorkflowStep.PLAN_SHIPMENT)
        schedule_workflow(order.pk)
