"""What every order service does: lock the order row, run a transition, record the event, move the
fulfillment workflow and start its next step after commit.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from orders.exceptions import IllegalTransition, OrderNotFound
from orders.models import FulfillmentWorkflow, SalesOrder
from scm.events.store import NewEvent, append


def record_event(order: SalesOrder, event_type: str, payload: dict) -> None:
    append(order.stream, [NewEvent(type=event_type, payload={"order_id": order.pk, **payload})])


def lock_order(order_id: int) -> SalesOrder:
    order = SalesOrder.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(order_id)
    return order


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

    transaction.on_commit(partial(run_fulfillment_step.delay, order_id))


def advance_workflow(workflow: FulfillmentWorkflow, step: str) -> None:
    workflow.step = step
    workflow.attempts = 0
    workflow.last_error = ""
    workflow.lease_until = None
    workflow.next_attempt_at = timezone.now()
    workflow.save()
