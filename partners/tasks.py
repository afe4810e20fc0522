"""Celery tasks of partner transport: small doors on the partner-I/O queue.

All of `partners.tasks.*` run on the `partners` queue (scm/queues.py): a slow or hanging partner
delays only partner work, never orders or subscriptions.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from partners import as2_inbound, services, sftp_pull, transmit
from scm.periodic import PeriodicTask

log = logging.getLogger(__name__)

#: A try never runs longer than its budget plus slack; Celery kills it past this (acks_late: requeued,
#: and the lease makes the next claim wait until the dead try's lease ran out).
_TIME_LIMIT = int(settings.PARTNER_TIMEOUT_SECONDS * 2 + settings.PARTNER_CONNECT_TIMEOUT_SECONDS + 30)


@shared_task(acks_late=True, soft_time_limit=_TIME_LIMIT - 10, time_limit=_TIME_LIMIT)
def transmit_outbox_entry(entry_id: int) -> str:
    """One try at sending one outbox entry (if it is due): see partners.transmit."""
    return transmit.outbox_entry_transmit(entry_id=entry_id)


@shared_task(base=PeriodicTask)
def send_due_documents() -> list[int]:
    """Beat: queue documents no event queued, expire AS2 waits for an MDN that never came, and start
    a try for every entry that is due (retries whose backoff ran out, leases of dead workers)."""
    services.outbox_enqueue_missing()
    services.outbox_expire_mdn_waits()
    due = services.outbox_due()
    for entry_id in due:
        transmit_outbox_entry.delay(entry_id)
    return due


def start_due_pulls() -> list[int]:
    """Called from the supplier poll (suppliers.tasks.poll_suppliers): start an SFTP pull for every
    connection whose supplier's poll interval has passed."""
    due = sftp_pull.connections_due()
    for connection_id in due:
        pull_partner_files.delay(connection_id)
    return due


@shared_task(acks_late=True, soft_time_limit=_TIME_LIMIT * 10, time_limit=_TIME_LIMIT * 10 + 30)
def pull_partner_files(connection_id: int) -> int:
    """Pull every waiting file from one partner's SFTP outbox (stored first, then removed)."""
    return sftp_pull.sftp_pull(connection_id=connection_id).stored


@shared_task(bind=True, acks_late=True, max_retries=8)
def send_async_mdn(self, record_id: int) -> str:
    """Post the MDN we owe for a received AS2 message to the URL its sender gave; retried with backoff."""
    outcome = as2_inbound.async_mdn_send(record_id=record_id)
    if outcome == "retry" and not self.request.is_eager and self.request.retries < (self.max_retries or 0):
        raise self.retry(countdown=services.backoff_seconds(self.request.retries + 1))
    return outcome
