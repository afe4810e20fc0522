"""Celery doors into the subscription processor."""

from __future__ import annotations

from celery import shared_task

from scm.events import subscriptions


@shared_task(name="scm.events.tasks.process_subscriptions", ignore_result=True)
def process_subscriptions() -> int:
    """Feed every registered subscriber one batch; beat runs it every few seconds."""
    return sum(result.handled for result in subscriptions.process_all())


def kick_subscriptions() -> None:
    """Called after a commit that appended events, so subscribers react without waiting for beat."""
    process_subscriptions.delay()
