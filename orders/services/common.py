"""What every order service does: lock the order row, run a transition, record the event, move the
fulfillment workflow and start its next step after commit.

Lock order within an order: the order row, then its lines, then its allocations, then its
fulfillment workflow; then whatever else the service needs (shipments, stock), all before the first
event append (docs/ARCHITECTURE.md, "Lock order").
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from orders.exceptions import IllegalTransition, OrderNotFound
from orders.models import Allocation, FulfillmentWorkflow, OrderLine, SalesOrder
from scm import dispatch
from scm.events.store import NewEvent, append


def record_event(order: SalesOrder, event_type: str, payload: dict) -> None:
    append(order.stream, [NewEvent(type=event_type, payload={"order_id": order.pk, **payload})])


def lock_order(order_id: int) -> SalesOrder:
    order = SalesOrder.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(order_id)
    return order


def lock_lines(order: SalesOrder) -> list[OrderLine]:
    """The order's lines, locked (after the order row), in line order."""
    return list(OrderLine.objects.select_for_update().filter(order=order).order_by("line_no"))


def lock_allocations(order: SalesOrder) -> list[Allocation]:
    """The order's allocations, locked (after its lines), in id order."""
    return list(Allocation.objects.select_for_update(of=("self",)).filter(line__order=order).order_by("pk"))


def lock_workflow(order: SalesOrder) -> FulfillmentWorkflow | None:
    """The order's fulfillment workflow row, locked (after the order's lines and allocations)."""
    return FulfillmentWorkflow.objects.select_for_update().filter(order=order).first()


def run_transition(order: SalesOrder, method: str, *args) -> None:
    try:
        getattr(order, method)(*args)
    except TransitionNotAllowed:
        raise IllegalTransition(order.pk, order.status, method.removeprefix("mark_")) from None


def schedule_workflow(order_id: int) -> None:
    """After commit, hand the order's next workflow step to a worker (the sweeper is the safety net)."""
    if not settings.ORDER_WORKFLOW_AUTORUN:
        return
    from orders.tasks import run_fulfillment_step

    dispatch.enqueue_after_commit(run_fulfillment_step, order_id, picked_up_by="the workflow sweeper")


def advance_workflow(workflow: FulfillmentWorkflow, step: str) -> None:
    workflow.step = step
    workflow.attempts = 0
    workflow.last_error = ""
    workflow.stop_waiting()
    workflow.lease_until = None
    workflow.next_attempt_at = timezone.now()
    workflow.save()
