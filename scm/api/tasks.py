"""Celery doors into the API layer's housekeeping."""

from __future__ import annotations

from celery import shared_task

from scm.api.services import idempotency_records_purge
from scm.periodic import PeriodicTask


@shared_task(name="scm.api.tasks.purge_idempotency_records", base=PeriodicTask, ignore_result=True)
def purge_idempotency_records() -> int:
    """Forget Idempotency-Key responses older than IDEMPOTENCY_RETENTION_HOURS (beat, hourly)."""
    return idempotency_records_purge()
