"""Celery doors into the fulfillment workflow."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from orders import workflow
from scm.periodic import PeriodicTask


@shared_task(name="orders.tasks.run_fulfillment_step", acks_late=True, ignore_result=True)
def run_fulfillment_step(order_id: int) -> str:
    result = workflow.run_step(order_id)
    if result.outcome == "done":
        # The next step may be runnable at once (reserve → plan shipment).
        follow_up = workflow.run_step(order_id)
        result = follow_up if follow_up.outcome not in ("idle", "not_due") else result
    if result.outcome == "retry" and not settings.CELERY_TASK_ALWAYS_EAGER:
        run_fulfillment_step.apply_async(args=[order_id], countdown=result.retry_in)
    return result.outcome


@shared_task(name="orders.tasks.sweep_fulfillment_workflows", base=PeriodicTask, ignore_result=True)
def sweep_fulfillment_workflows() -> int:
    """Beat: hand every due or abandoned step to a worker."""
    due = workflow.due_workflows()
    for order_id in due:
        run_fulfillment_step.delay(order_id)
    return len(due)
