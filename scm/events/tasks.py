"""Celery doors into the subscription processor."""

from __future__ import annotations

from celery import shared_task

from scm import periodic
from scm.events import subscriptions
from scm.periodic import PeriodicTask


@shared_task(
    name="scm.events.tasks.process_subscriptions", base=PeriodicTask, rerun_if_skipped=True, ignore_result=True
)
def process_subscriptions() -> int:
    """Feed every registered subscriber one batch; beat runs it every few seconds."""
    return sum(result.handled for result in subscriptions.process_all())


def kick_subscriptions() -> None:
    """Called after a commit that appended events, so subscribers react without waiting for beat."""
    periodic.kick(process_subscriptions)
