"""Celery doors into webhook delivery."""

from __future__ import annotations

from celery import shared_task

from scm.webhooks.services import webhook_deliveries_send_due


@shared_task(name="scm.webhooks.tasks.deliver_due_webhooks", ignore_result=True)
def deliver_due_webhooks() -> int:
    """Send what is due; beat runs it every WEBHOOK_POLL_SECONDS and fan-out kicks it after commit."""
    return webhook_deliveries_send_due().sent


def kick_delivery() -> None:
    """Called after a commit that queued deliveries, so they go out without waiting for beat."""
    deliver_due_webhooks.delay()
