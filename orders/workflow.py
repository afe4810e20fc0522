"""The fulfillment saga: reserve → plan shipment → await departure → await delivery.

State lives in FulfillmentWorkflow. A worker claims a due step by taking a lease (committed before
the step runs, so a crash leaves a visible, expiring lease), runs the step, and records the
outcome. Steps are idempotent: reserving reserves only what is still missing, and planning passes a
stable plan key so a repeated call returns the shipment already planned. Transient failures retry
with exponential backoff and jitter up to a maximum; missing configuration (no carrier) makes the
step wait, keeping the reservations, until the configuration exists; a genuine refusal (and a
transient failure that outlasts the retries) runs compensation: the reservations are released and
the order FAILS (or goes back to BACKORDERED when ORDER_FAILURE_MODE is "backorder"). Which error is
which: orders.workflow_errors.
Departure and delivery are not polled: shipment events move the order (see orders.handlers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from orders import services
from orders.models import (
    NOT_WAITING,
    Allocation,
    FulfillmentWorkflow,
    OrderShipment,
    OrderStatus,
    SalesOrder,
    WorkflowStep,
)
from orders.workflow_errors import Disposition, classify, exhausted_reason
from scm.observability import tracing

log = structlog.get_logger(__name__)

RUNNABLE_STEPS = (WorkflowStep.RESERVE, WorkflowStep.PLAN_SHIPMENT)


@dataclass(frozen=True)
class StepResult:
    order_id: int
    outcome: str  # done | retry | waiting | failed | busy | not_due | leased | idle
    step: str = ""
    retry_in: float = 0.0
    error: str = ""
    waiting_for: str = ""


def backoff_seconds(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with equal jitter: half the delay fixed, half random, capped."""
    base = settings.ORDER_WORKFLOW_RETRY_BASE_SECONDS if base is None else base
    cap = settings.ORDER_WORKFLOW_RETRY_CAP_SECONDS if cap is None else cap
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + random.uniform(0, delay / 2)


def run_step(order_id: int, *, now: datetime | None = None) -> StepResult:
    now = now or timezone.now()
    with transaction.atomic():
        workflow = FulfillmentWorkflow.objects.select_for_update(skip_locked=True).filter(order_id=order_id).first()
        if workflow is None:
            return StepResult(order_id, "busy")
        if workflow.step not in RUNNABLE_STEPS:
            return StepResult(order_id, "idle", workflow.step)
        if workflow.next_attempt_at and workflow.next_attempt_at > now:
            return StepResult(order_id, "not_due", workflow.step)
        if workflow.lease_until and workflow.lease_until > now:
            return StepResult(order_id, "leased", workflow.step)
        workflow.attempts += 1
        workflow.lease_until = now + timedelta(seconds=settings.ORDER_WORKFLOW_LEASE_SECONDS)
        workflow.save()
        step, attempts, generation = workflow.step, workflow.attempts, workflow.generation
        waited_for = workflow.waiting_for

    try:
        with tracing.span(f"workflow.{step}", **{"scm.order_id": order_id, "scm.attempt": attempts}):
            if step == WorkflowStep.RESERVE:
                services.order_allocate(order_id=order_id)
            else:
                _plan_shipments(order_id, generation)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded: retried, waited on or compensated
        result = _failed(order_id, step, attempts, generation, exc, now)
    else:
        log.info("workflow.step_done", order_id=order_id, step=step, attempts=attempts)
        result = StepResult(order_id, "done", step)
    if waited_for and result.waiting_for != waited_for:
        # This step waited and got past the gap: the configuration exists, so the others waiting
        # for it need not wait for their own re-check.
        services.workflows_resume_waiting(waiting_for=waited_for)
    return result


def _failed(order_id: int, step: str, attempts: int, generation: int, exc: Exception, now: datetime) -> StepResult:
    error = f"{type(exc).__name__}: {exc}"
    verdict = classify(exc)
    if verdict.disposition == Disposition.WAIT:
        return _wait(order_id, step, generation, verdict.waiting_for, error, now)
    if verdict.disposition == Disposition.RETRY and attempts >= settings.ORDER_WORKFLOW_MAX_ATTEMPTS:
        outage = exhausted_reason(exc)
        if outage:
            return _wait(order_id, step, generation, outage, error, now)
    if verdict.disposition == Disposition.RETRY and attempts < settings.ORDER_WORKFLOW_MAX_ATTEMPTS:
        delay = backoff_seconds(attempts)
        with transaction.atomic():
            FulfillmentWorkflow.objects.filter(order_id=order_id).update(
                last_error=error, **NOT_WAITING, lease_until=None, next_attempt_at=now + timedelta(seconds=delay)
            )
        log.warning("workflow.step_retry", order_id=order_id, step=step, attempts=attempts, retry_in=delay, error=error)
        return StepResult(order_id, "retry", step, retry_in=delay, error=error)
    reason = f"{step} failed after {attempts} attempt(s): {error}"
    services.order_fail(
        order_id=order_id,
        reason=reason,
        step=step,
        attempts=attempts,
        to_backorder=settings.ORDER_FAILURE_MODE == "backorder",
    )
    log.error("workflow.step_failed", order_id=order_id, step=step, attempts=attempts, error=error)
    return StepResult(order_id, "failed", step, error=error)


def _wait(order_id: int, step: str, generation: int, waiting_for: str, error: str, now: datetime) -> StepResult:
    """Missing configuration: keep everything, count no attempt, re-check later (or when kicked)."""
    recheck = settings.ORDER_WORKFLOW_WAIT_RECHECK_SECONDS
    services.workflow_wait(
        order_id=order_id,
        step=step,
        generation=generation,
        waiting_for=waiting_for,
        error=error,
        recheck_at=now + timedelta(seconds=recheck),
    )
    log.warning("workflow.step_waiting", order_id=order_id, step=step, waiting_for=waiting_for, error=error)
    return StepResult(order_id, "waiting", step, retry_in=recheck, error=error, waiting_for=waiting_for)


def _plan_shipments(order_id: int, generation: int) -> None:
    """Plan one shipment per location for reserved units not yet on a shipment."""
    from shipments import services as shipment_services

    order = SalesOrder.objects.get(pk=order_id)
    if order.status not in (OrderStatus.RESERVED, OrderStatus.PARTIALLY_FULFILLED):
        return
    open_allocations = (
        Allocation.objects.filter(line__order_id=order_id, reserved__gt=F("planned"))
        .select_related("line")
        .order_by("location", "line__line_no")
    )
    by_location: dict[str, list[Allocation]] = {}
    for allocation in open_allocations:
        by_location.setdefault(allocation.location, []).append(allocation)
    for location, allocations in by_location.items():
        sequence = OrderShipment.objects.filter(order_id=order_id, from_location=location).count()
        lines = [
            shipment_services.ShipmentLineSpec(
                sku=a.line.sku, qty=a.reserved - a.planned, holder=f"order-{order_id}/line-{a.line_id}"
            )
            for a in allocations
        ]
        shipment = shipment_services.shipment_plan(
            order_ref=f"order-{order_id}",
            from_location=location,
            lines=lines,
            promised_date=order.requested_date,
            plan_key=f"order-{order_id}/g{generation}/{location}/{sequence}",
        )
        services.order_record_shipment_planned(
            order_ref=f"order-{order_id}",
            shipment_id=shipment.pk,
            from_location=location,
            lines=[{"sku": spec.sku, "qty": spec.qty, "holder": spec.holder, "location": location} for spec in lines],
        )
    with transaction.atomic():
        workflow = FulfillmentWorkflow.objects.select_for_update().get(order_id=order_id)
        if workflow.step == WorkflowStep.PLAN_SHIPMENT:
            workflow.step = WorkflowStep.AWAIT_DEPARTURE
            workflow.attempts = 0
            workflow.last_error = ""
            workflow.stop_waiting()
            workflow.lease_until = None
            workflow.next_attempt_at = None
            workflow.save()


def due_workflows(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Workflows whose step is due and not leased: new, retrying, or abandoned by a dead worker;
    and, of those waiting for configuration, one probe per reason (see `_waiting_probes`).

    The sweeper's own read: it also moves the other waiting workflows' re-check on, so it is not a
    selector for reports (count waits with `orders.selectors.waiting_counts`)."""
    now = now or timezone.now()
    due = FulfillmentWorkflow.objects.filter(step__in=RUNNABLE_STEPS, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    running = list(due.filter(waiting_for="").order_by("next_attempt_at").values_list("order_id", flat=True)[:limit])
    return running + _waiting_probes(due.exclude(waiting_for=""), now)


def _waiting_probes(waiting: QuerySet[FulfillmentWorkflow], now: datetime) -> list[int]:
    """The due waiting workflow that waited longest, per reason. A reason names one piece of global
    configuration, so one order finds out whether it exists for all: its success resumes the rest
    (`run_step`); meanwhile the others' re-check moves one interval on, so a thousand orders waiting
    for a carrier cost one step per interval, not a thousand."""
    probes = []
    later = now + timedelta(seconds=settings.ORDER_WORKFLOW_WAIT_RECHECK_SECONDS)
    for reason in waiting.order_by().values_list("waiting_for", flat=True).distinct():
        same = waiting.filter(waiting_for=reason)
        probe = same.order_by("next_attempt_at", "order_id").values_list("order_id", flat=True).first()
        if probe is None:
            continue
        same.exclude(order_id=probe).update(next_attempt_at=later)
        probes.append(probe)
    return probes
