"""Cancelling, failing and retrying orders; cancellation releases every reservation."""

from __future__ import annotations

from django.db import transaction

from inventory import services as inventory
from orders.exceptions import IllegalTransition
from orders.models import Allocation, FulfillmentWorkflow, OrderLine, OrderStatus, SalesOrder, WorkflowStep
from orders.references import line_holder
from orders.services.common import (
    advance_workflow,
    lock_allocations,
    lock_lines,
    lock_order,
    lock_workflow,
    record_event,
    run_transition,
    schedule_workflow,
)
from scm.conflicts import retry_on_conflict
from scm.errors import ValidationFailed


def _release_all(order: SalesOrder, lines: list[OrderLine], allocations: list[Allocation], reason: str) -> list[dict]:
    """Release every reservation the order still holds, in one `reservation_release_many` (every balance, then
    every reservation, locked before its first append). The caller holds the order, its lines and
    allocations."""
    by_id = {line.pk: line for line in lines}
    held = sorted((a for a in allocations if a.reserved > 0), key=lambda a: (by_id[a.line_id].line_no, a.pk))
    releases = [inventory.HeldUnits(by_id[a.line_id].sku, a.location, line_holder(order.pk, a.line_id)) for a in held]
    released = [
        {"line_no": by_id[a.line_id].line_no, "sku": by_id[a.line_id].sku, "location": a.location, "qty": a.reserved}
        for a in held
    ]
    inventory.reservation_release_many(releases=releases, reason=reason)
    for allocation in held:
        allocation.reserved = 0
        allocation.planned = 0
        allocation.save(update_fields=["reserved", "planned"])
    for line in lines:
        if line.reserved:
            line.reserved = 0
            line.save(update_fields=["reserved"])
    return released


@retry_on_conflict
@transaction.atomic
def order_cancel(*, order_id: int, reason: str, actor: str = "") -> SalesOrder:
    """Cancel what has not shipped: release every reservation and record why.

    A fulfilled (or already cancelled) order is refused. Shipped quantities stay shipped; the
    rest of each line is cancelled. Planned shipments not yet departed are cancelled too. Locks the
    order, its lines, allocations and workflow, its planned shipments, then (in `reservation_release_many`) the
    balances and reservations, before the first event append.
    """
    if not reason or not str(reason).strip():
        raise ValidationFailed("A cancellation needs a reason.", reason=reason)
    order = lock_order(order_id)
    if order.status in (OrderStatus.FULFILLED, OrderStatus.CANCELLED):
        raise IllegalTransition(order.pk, order.status, "cancel")
    lines, allocations, workflow = lock_lines(order), lock_allocations(order), lock_workflow(order)
    planned = sorted(
        order.shipments.filter(departed=False).exclude(status="CANCELLED").values_list("shipment_id", flat=True)
    )
    if planned:
        from shipments import services as shipment_services

        shipment_services.lock_shipments(planned)
    released = _release_all(order, lines, allocations, reason="order cancelled")
    for line in lines:
        line.cancelled = line.ordered - line.shipped
        line.save(update_fields=["cancelled"])
    if workflow is not None:
        workflow.step, workflow.lease_until, workflow.next_attempt_at = WorkflowStep.CANCELLED, None, None
        workflow.stop_waiting()
        workflow.save(update_fields=["step", "lease_until", "next_attempt_at", "waiting_for", "waiting_since"])
    status_before = order.status
    run_transition(order, "mark_cancelled", reason)
    order.save()
    record_event(
        order,
        "OrderCancelled",
        {"previous_status": status_before, "reason": reason, "actor": actor, "released": released},
    )
    for shipment_id in planned:  # locked above: cancelling them takes no new lock
        shipment_services.shipment_cancel(shipment_id=shipment_id, reason=f"order cancelled: {reason}")
    return order


@retry_on_conflict
@transaction.atomic
def order_fail(*, order_id: int, reason: str, step: str, attempts: int, to_backorder: bool = False) -> SalesOrder:
    """Compensation when the workflow gives up: release the reservations and record why. Same lock
    order as cancellation: the order, its lines, allocations and workflow, then stock."""
    order = lock_order(order_id)
    lines, allocations, workflow = lock_lines(order), lock_allocations(order), lock_workflow(order)
    released = _release_all(order, lines, allocations, reason="fulfillment failed")
    status_before = order.status
    if to_backorder:
        run_transition(order, "mark_backordered")
    else:
        run_transition(order, "mark_failed", reason)
    order.save()
    if workflow is not None:
        workflow.step = WorkflowStep.AWAIT_STOCK if to_backorder else WorkflowStep.FAILED
        workflow.last_error = reason
        workflow.stop_waiting()
        workflow.lease_until = None
        workflow.next_attempt_at = None
        workflow.save()
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
    return order


@retry_on_conflict
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
