"""Celery tasks of the suppliers app: small doors that take ids and call one service each."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from scm.periodic import PeriodicTask
from suppliers import inbound, polling
from suppliers.models import PollChannel, PollStatus, Supplier

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=5)
def process_inbound_message(self, message_id: int) -> str:
    """Process one stored message. Idempotent: a message already processed is left alone.

    A lost database connection or a deadlock retries with backoff; anything else unexpected
    quarantines the message with `internal_error` (it stays visible and reprocessable) rather than
    leaving it RECEIVED where nobody looks.
    """
    try:
        message = inbound.inbound_message_process(message_id=message_id)
    except OperationalError as exc:
        if self.request.is_eager or self.request.retries >= (self.max_retries or 0):
            inbound.inbound_message_crashed(message_id=message_id, error=exc)
            return "QUARANTINED"
        raise self.retry(exc=exc, countdown=polling.backoff_seconds(self.request.retries)) from None
    except Exception as exc:  # any bug must end visible in quarantine, never silently RECEIVED
        log.exception("processing inbound message %s failed unexpectedly", message_id)
        inbound.inbound_message_crashed(message_id=message_id, error=exc)
        return "QUARANTINED"
    return str(message.status)


@shared_task(base=PeriodicTask)
def poll_suppliers() -> list[int]:
    """Beat: start a poll for every supplier whose interval has passed, and requeue stored messages
    whose processing never ran (see `inbound.sweep_received_messages`)."""
    from partners import tasks as partner_tasks

    due = polling.suppliers_due()
    for supplier_id in due:
        poll_supplier.delay(supplier_id)
    partner_tasks.start_due_pulls()  # SFTP outboxes of partners (partners/sftp_pull.py)
    inbound.sweep_received_messages()
    return due


@shared_task
def poll_supplier(supplier_id: int) -> None:
    """Poll one supplier's drop folder now and start its HTTP feed poll (which retries on its own)."""
    supplier = Supplier.objects.filter(pk=supplier_id, active=True).first()
    if supplier is None:
        return
    if supplier.drop_folder:
        polling.drop_folder_poll(supplier_id=supplier_id)
    if supplier.feed_url:
        poll_supplier_feed.delay(supplier_id)


@shared_task(bind=True, max_retries=None, acks_late=True)
def poll_supplier_feed(self, supplier_id: int, started_at: str | None = None) -> str:
    """One GET of the supplier's HTTP feed; transient failures retry with exponential backoff and
    jitter up to SUPPLIER_POLL_RETRIES times, then the poll is recorded FAILED (dead letter).

    With a broker the retry is a Celery retry with a countdown (the worker is free meanwhile). Run
    eagerly (tests, a laptop without a broker) Celery cannot defer a retry, so the next try runs at
    once, without waiting.
    """
    started = parse_datetime(started_at) if started_at else timezone.now()
    tries = self.request.retries
    while True:
        result = polling.http_feed_fetch(supplier_id=supplier_id)
        tries += 1
        if result.outcome != "retry" or tries > settings.SUPPLIER_POLL_RETRIES:
            break
        log.warning("supplier %s feed poll try %s failed, retrying: %s", supplier_id, tries, result.error)
        if not self.request.is_eager:
            raise self.retry(
                kwargs={"supplier_id": supplier_id, "started_at": started.isoformat()},
                countdown=polling.backoff_seconds(tries - 1),
            )
    failed = result.outcome in ("retry", "failed")
    polling.poll_attempt_record(
        supplier_id=supplier_id,
        channel=PollChannel.HTTP,
        status=PollStatus.FAILED if failed else PollStatus.SUCCEEDED,
        started_at=started,
        tries=tries,
        messages_stored=len(result.message_ids),
        error=(f"gave up after {tries} tries: {result.error}" if result.outcome == "retry" else result.error),
    )
    return result.outcome


@shared_task(acks_late=True)
def reprocess_run(run_id: int) -> str:
    """Execute a bulk reprocess run (resumable: a redelivered task carries on where it stopped)."""
    from suppliers.services import reprocessing

    return str(reprocessing.reprocess_run_execute(run_id=run_id).status)
