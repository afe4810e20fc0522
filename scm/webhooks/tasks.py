"""Celery doors into webhook delivery: one dispatcher, and one task per endpoint with due deliveries,
so a slow or hanging endpoint occupies only its own task (and its breaker soon stops even that)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from scm import periodic
from scm.periodic import PeriodicTask
from scm.webhooks.selectors import webhook_endpoints_due
from scm.webhooks.services import webhook_endpoint_send_due

ENDPOINT_TASK_EXPIRES_SECONDS = 30


@shared_task(
    name="scm.webhooks.tasks.deliver_due_webhooks", base=PeriodicTask, rerun_if_skipped=True, ignore_result=True
)
def deliver_due_webhooks() -> int:
    """Start one send task per endpoint with due deliveries whose breaker lets calls through.

    Beat runs it every WEBHOOK_POLL_SECONDS and fan-out kicks it after commit. An endpoint task not
    started within ENDPOINT_TASK_EXPIRES_SECONDS expires unrun (a later dispatch starts a fresh one),
    so a backlog of workers never piles up stale sends.
    """
    due = webhook_endpoints_due(now=timezone.now())
    for endpoint_id in due:
        deliver_endpoint_webhooks.apply_async((endpoint_id,), expires=ENDPOINT_TASK_EXPIRES_SECONDS)
    return len(due)


@shared_task(name="scm.webhooks.tasks.deliver_endpoint_webhooks", ignore_result=True)
def deliver_endpoint_webhooks(endpoint_id: int) -> int:
    """Send one endpoint's due deliveries within the run's time budget and its in-flight limit."""
    return webhook_endpoint_send_due(endpoint_id=endpoint_id).sent


def kick_delivery() -> None:
    """Called after a commit that queued deliveries, so they go out without waiting for beat."""
    periodic.kick(deliver_due_webhooks)
