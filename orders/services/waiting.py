"""Fulfillment steps waiting for missing configuration: entering the wait, and leaving it.

A step that meets missing configuration (no carrier, a TMS address or key refused; see
orders.workflow_errors) neither retries nor compensates: the order keeps its status and its
reservations, the workflow names the reason in `waiting_for`, and the step runs again when the
configuration exists. Two ways out, whichever comes first: the change that supplies the
configuration calls `workflows_resume_waiting` (through the event it appends), and the sweeper
re-checks one waiting order per reason every ORDER_WORKFLOW_WAIT_RECHECK_SECONDS; that probe's
success resumes the others.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from orders.models import NOT_WAITING, FulfillmentWorkflow
from orders.services.common import lock_order, lock_workflow, record_event, schedule_workflow
from scm.conflicts import retry_on_conflict

# Steps handed to workers right away when waiting orders resume; the sweeper runs the rest (all are due).
RESUME_SCHEDULE_LIMIT = 1000


@retry_on_conflict
@transaction.atomic
def workflow_wait(
    *, order_id: int, step: str, generation: int, waiting_for: str, error: str, recheck_at: datetime
) -> bool:
    """The order's workflow step `step` waits for the configuration `waiting_for`.

    Releases the step's lease, takes back the attempt just counted (a configuration gap burns no
    tries), and makes the step due again at `recheck_at`. Appends `OrderWaiting` when the workflow
    starts waiting for this reason, not at every re-check. Writes nothing and returns False when
    the workflow moved on meanwhile (cancelled, retried as a new generation). Locks the order,
    then its workflow, before the append.
    """
    order = lock_order(order_id)
    workflow = lock_workflow(order)
    if workflow is None or workflow.step != step or workflow.generation != generation:
        return False
    started = workflow.waiting_for != waiting_for
    if started:
        workflow.waiting_for, workflow.waiting_since = waiting_for, timezone.now()
    workflow.attempts = max(0, workflow.attempts - 1)
    workflow.last_error = error
    workflow.lease_until = None
    workflow.next_attempt_at = recheck_at
    workflow.save()
    if started:
        record_event(
            order, "OrderWaiting", {"status": order.status, "step": step, "waiting_for": waiting_for, "error": error}
        )
    return True


@retry_on_conflict
@transaction.atomic
def workflows_resume_waiting(*, waiting_for: str) -> int:
    """The configuration `waiting_for` names exists now: every workflow waiting for it waits no more
    and is due at once; after commit the first RESUME_SCHEDULE_LIMIT are handed to workers (the
    sweeper runs the rest, and any the broker loses). Idempotent; returns how many resumed.

    Locks the waiting workflow rows in order id order (the order `backorders_fill` uses) and no
    other row. A step that finds the configuration still missing simply waits again.
    """
    waiting = FulfillmentWorkflow.objects.filter(waiting_for=waiting_for)
    order_ids = list(waiting.select_for_update().order_by("order_id").values_list("order_id", flat=True))
    if not order_ids:
        return 0
    waiting.update(**NOT_WAITING, next_attempt_at=timezone.now())
    for order_id in order_ids[:RESUME_SCHEDULE_LIMIT]:
        schedule_workflow(order_id)
    return len(order_ids)
