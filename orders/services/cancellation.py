"""Cancelling, failing and retrying orders; cancellation releases every reservation."""

from __future__ import annotations

from django.db import transaction

from inventory import services as inventory
from orders.exceptions import IllegalTransition
from orders.models import FulfillmentWorkflow, OrderStatus, SalesOrder, WorkflowStep
from orders.references import line_holder
from orders.services.common import advance_workflow, lock_order, record_event, run_transition, schedule_workflow
from scm.errors import ValidationFailed


def _release_all(order: SalesOrder, reason: str) -> list[dict]:
    released = []
    for line in order.lines.all():
        for allocation in line.allocations.filter(reserved__gt=0):
            inventory.release(
                sku=line.sku, location=allocation.location, holder=line_holder(order.pk, line.pk), reason=reason
            )
            released.append(
                {"line_no": line.line_no, "sku": line.sku, "location": allocation.location, "qty": allocation.reserved}
            )
            allocation.reserved = 0
            allocation.planned = 0
            allocation.save(update_fields=["reserved", "planned"])
        if line.reserved:
            line.reserved = 0
            line.save(update_fields=["reserved"])
    return released


@transaction.atomic
def order_cancel(*, order_id: int, reason: str, actor: str = "") -> SalesOrder:
    """Cancel what has not shipped: release every reservation and record why.

    A fulfilled (or already cancelled) order is refused. Shipped quantities stay shipped; the
    rest of each line is cancelled. Planned shipments not yet departed are cancelled too.
    """
    if not reason or not str(reason).strip():
        raise ValidationFailed("A cancellation needs a reason.", reason=reason)
    order = lock_order(order_id)
    if order.status in (OrderStatus.FULFILLED, OrderStatus.CANCELLED):
        raise IllegalTransition(order.pk, order.status, "cancel")
    released = _release_all(order, reason="order cancelled")
    for line in order.lines.all():
        line.cancelled = line.ordered - line.shipped
        line.save(update_fields=["cancelled"])
    status_before = order.status
    run_transition(order, "mark_cancelled", reason)
    order.save()
    record_event(
        order,
        "OrderCancelled",
        {"previous_status": status_before, "reason": reason, "actor": actor, "released": released},
    )
    FulfillmentWorkflow.objects.filter(order=order).update(
        step=WorkflowStep.CANCELLED, lease_until=None, next_attempt_at=None
    )
    planned = list(
        order.shipments.filter(departed=False).exclude(status="CANCELLED").values_list("shipment_id", flat=True)
    )
    if planned:
        from shipments import services as shipment_services

        for shipment_id in planned:
            shipment_services.shipment_cancel(shipment_id=shipment_id, reason=f"order cancelled: {reason}")
    return order


@transaction.atomic
def order_fail(*, order_id: int, reason: str, step: str, attempts: int, to_backorder: bool = False) -> SalesOrder:
    """Compensation when the workflow gives up: release the reservations and record why."""
    order = lock_order(order_id)
    released = _release_all(order, reason="fulfillment failed")
    status_before = order.status
    if to_backorder:
        run_transition(order, "mark_backordered")
    else:
        run_transition(order, "mark_failed", reason)
    order.save()
    record_event(
        order,
        "OrderFailed",
        {
            "previous_status": status_before,
            "reason": reason,
            "step": step,
            "attempts": attempts,
            "released": released,
            "now": order.status,
        },
    )
    workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
    workflow.step = WorkflowStep.AWAIT_STOCK if to_backorder else WorkflowStep.FAILED
    workflow.last_error = reason
    workflow.lease_until = None
    workflow.next_attempt_at = None
    workflow.save()
    return order


@transaction.atomic
def order_retry(*, order_id: int, actor: str = "") -> SalesOrder:
    """Ops retry a FAILED order: back to CREATED, a fresh workflow generation, started again."""
    order = lock_order(order_id)
    run_transition(order, "mark_retried")
    order.save()
    workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
    workflow.generation += 1
    advance_workflow(workflow, WorkflowStep.RESERVE)
    record_event(order, "OrderRetried", {"actor": actor, "generation": workflow.generation})
    schedule_workflow(order.pk)
    return order
