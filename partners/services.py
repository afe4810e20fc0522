"""The outbox: queueing outbound documents, claiming them for a send, recording what each try did,
and resending dead letters. Every state change appends its event in the same transaction.

States: QUEUED → SENDING (a worker's claim, with a lease) → DELIVERED, or AWAITING_MDN (AS2 with an
asynchronous MDN) → DELIVERED; a failed try goes back to QUEUED with an exponential backoff with
jitter, and to DEAD after PARTNER_MAX_ATTEMPTS tries or a failure that cannot succeed by retrying.
A try that was not made because the partner's circuit is open (`partners.circuit`) gives its number
back and waits for the circuit. Ops resend a DEAD entry (`outbox_entry_resend`), which queues it
again with a fresh try budget and closes the partner's circuit.

Locks: the entry row (`select_for_update`) before any append; a claim is one conditional UPDATE, so
two workers never send one entry at once, and a worker that died simply lets its lease expire.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from partners import circuit, documents
from partners.exceptions import OutboxEntryNotDead, OutboxEntryNotFound
from partners.models import OUT, AttemptOutcome, DeliveryAttempt, OutboxEntry, PartnerConnection, Protocol
from scm import dispatch
from scm.events.store import NewEvent, append
from suppliers.models import OutboundMessage

log = logging.getLogger(__name__)


def backoff_seconds(attempt: int, *, rng: random.Random | None = None) -> float:
    """Wait after failed try `attempt` (1-based): uniform in [d/2, d], d = min(cap, base·2^(attempt-1))."""
    ceiling = min(
        settings.PARTNER_BACKOFF_CAP_SECONDS, settings.PARTNER_BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0)
    )
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def _event(entry: OutboxEntry, event_type: str, **payload) -> None:
    base = {
        "outbox_id": entry.pk,
        "document_id": entry.document_id,
        "kind": entry.kind,
        "supplier": entry.connection.supplier.code,
        "protocol": entry.protocol,
        "purchase_order": entry.purchase_order or None,
    }
    append(entry.stream, [NewEvent(type=event_type, payload={**base, **payload})])


# --- Queueing ------------------------------------------------------------------------------------


def active_connection(supplier_id: int | None) -> PartnerConnection | None:
    if supplier_id is None:
        return None
    return (
        PartnerConnection.objects.select_related("supplier")
        .filter(supplier_id=supplier_id, active=True)
        .exclude(protocol=Protocol.NONE)
        .first()
    )


@transaction.atomic
def outbox_enqueue(*, document_id: int) -> OutboxEntry | None:
    """Queue an outbound document (850, 997, 824, ...) for its supplier's connection. Idempotent: a
    document is queued once (UNIQUE). Returns None when the supplier has no active connection, or the
    document was built before the connection's `send_documents_since`."""
    document = OutboundMessage.objects.select_related("purchase_order").filter(pk=document_id).first()
    if document is None:
        return None
    connection = active_connection(document.supplier_id)
    if connection is None or document.created_at < connection.send_documents_since:
        return None
    existing = OutboxEntry.objects.select_for_update().filter(document=document).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            entry = OutboxEntry.objects.create(
                connection=connection,
                document=document,
                kind=document.kind,
                purchase_order=document.purchase_order.number if document.purchase_order_id else "",
                protocol=connection.protocol,
            )
    except IntegrityError:  # a concurrent enqueue of the same document committed first
        return OutboxEntry.objects.get(document=document)
    _event(entry, "PartnerDocumentQueued")
    transaction.on_commit(partial(_kick, entry.pk))
    return entry


def outbox_enqueue_missing(*, older_than_seconds: int = 60, limit: int = 500) -> list[int]:
    """Queue outbound documents that no event queued: built for a supplier with an active connection,
    after its `send_documents_since`, at least `older_than_seconds` ago, and not in the outbox."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    connections = PartnerConnection.objects.filter(active=True).exclude(protocol=Protocol.NONE)
    queued = []
    for supplier_id, since in connections.values_list("supplier_id", "send_documents_since"):
        missing = (
            OutboundMessage.objects.filter(
                supplier_id=supplier_id, created_at__gte=since, created_at__lte=cutoff, transport__isnull=True
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        for document_id in missing:
            if outbox_enqueue(document_id=document_id) is not None:
                queued.append(document_id)
    return queued


def _kick(entry_id: int) -> None:
    if not settings.PARTNER_OUTBOX_AUTORUN:
        return
    from partners.tasks import transmit_outbox_entry

    dispatch.enqueue(transmit_outbox_entry, entry_id, picked_up_by="the outbox sweep (send_due_documents)")


# --- Claiming and recording ----------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    entry_id: int
    attempt: int
    connection_id: int
    protocol: str
    remote_name: str
    started_at: datetime


def outbox_claim(*, entry_id: int, now: datetime | None = None) -> Claim | None:
    """Take an entry that is due for one try (QUEUED, or SENDING with an expired lease) and lease it.
    None when it is not due, someone else holds it, or its partner's circuit is open (the entry then
    waits for the circuit, without spending a try)."""
    now = now or timezone.now()
    with transaction.atomic():
        entry = (
            OutboxEntry.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("connection__supplier", "document")
            .filter(pk=entry_id, next_attempt_at__lte=now)
            .filter(Q(status=OUT.QUEUED) | Q(status=OUT.SENDING, lease_until__lte=now))
            .first()
        )
        if entry is None:
            return None
        wait_until = circuit.closed_until(entry.connection.supplier.code, now=now)
        if wait_until is not None:
            entry.next_attempt_at = wait_until
            entry.save(update_fields=["next_attempt_at"])
            return None
        entry.status = OUT.SENDING
        entry.attempts += 1
        entry.lease_until = now + timedelta(seconds=settings.PARTNER_LEASE_SECONDS)
        entry.next_attempt_at = entry.lease_until
        entry.remote_name = entry.remote_name or _remote_name(entry)
        entry.save(update_fields=["status", "attempts", "lease_until", "next_attempt_at", "remote_name"])
    return Claim(entry.pk, entry.attempts, entry.connection_id, entry.protocol, entry.remote_name, now)


def _remote_name(entry: OutboxEntry) -> str:
    """A name fixed at the first try and reused by every retry: an SFTP file name, or an AS2 Message-ID."""
    if entry.protocol == Protocol.AS2:
        from partners.adapters.as2.message import new_message_id

        return new_message_id(entry.connection.as2_our_id)
    document = entry.document
    return f"{entry.kind}_{document.isa_control.zfill(9)}_{entry.pk}.{documents.extension(entry.kind)}"


@dataclass(frozen=True)
class Outcome:
    """What one try did: `delivered`, `transmitted` (waiting for an async MDN), `failed`, or
    `skipped` (not made: the partner's circuit is open; due again at `retry_at`)."""

    result: str
    error: str = ""
    retryable: bool = True
    mic: str = ""
    mdn: dict | None = None  # the facts of an MDN that came with this try (AS2, synchronous)
    retry_at: datetime | None = None


def outbox_record(*, claim: Claim, outcome: Outcome, now: datetime | None = None) -> str:
    """Record one try; returns the entry's new status ("" when the claim was lost to another worker)."""
    now = now or timezone.now()
    with transaction.atomic():
        entry = (
            OutboxEntry.objects.select_for_update()
            .select_related("connection__supplier")
            .filter(pk=claim.entry_id, status=OUT.SENDING, attempts=claim.attempt)
            .first()
        )
        if entry is None:
            return ""
        attempt_outcome = _apply_outcome(entry, outcome, now)
        DeliveryAttempt.objects.create(
            entry=entry,
            number=claim.attempt,
            started_at=claim.started_at,
            finished_at=now,
            outcome=attempt_outcome,
            error=outcome.error[:4000],
        )
        entry.save()
        _outcome_events(entry, outcome, claim.attempt)
    return entry.status


def _apply_outcome(entry: OutboxEntry, outcome: Outcome, now: datetime) -> str:
    entry.lease_until = None
    if outcome.result == "skipped":  # not tried: the try is given back, the last real error kept
        entry.status, entry.attempts = OUT.QUEUED, entry.attempts - 1
        later = outcome.retry_at if outcome.retry_at and outcome.retry_at > now else None
        entry.next_attempt_at = later or now + timedelta(seconds=circuit.attempt_seconds())  # a probe is out
        return AttemptOutcome.SKIPPED
    entry.last_error = outcome.error[:4000]
    entry.mic = outcome.mic or entry.mic
    if outcome.result == "delivered":
        entry.status, entry.delivered_at = OUT.DELIVERED, now
        entry.transmitted_at = entry.transmitted_at or now
        return AttemptOutcome.DELIVERED
    if outcome.result == "transmitted":
        entry.status, entry.transmitted_at = OUT.AWAITING_MDN, now
        entry.next_attempt_at = now + timedelta(seconds=settings.PARTNER_MDN_TIMEOUT_SECONDS)
        return AttemptOutcome.TRANSMITTED
    if not outcome.retryable or entry.attempts >= settings.PARTNER_MAX_ATTEMPTS:
        entry.status, entry.dead_at = OUT.DEAD, now
        return AttemptOutcome.DEAD
    entry.status = OUT.QUEUED
    entry.next_attempt_at = now + timedelta(seconds=backoff_seconds(entry.attempts))
    return AttemptOutcome.RETRY


def _outcome_events(entry: OutboxEntry, outcome: Outcome, attempt: int) -> None:
    """Transmitted (the partner took the bytes: a 2xx, a rename, an MDN of any kind), then the MDN,
    then Delivered or DeadLettered."""
    if outcome.result in ("delivered", "transmitted") or outcome.mdn is not None:
        _event(
            entry,
            "PartnerDocumentTransmitted",
            attempt=attempt,
            remote_name=entry.remote_name,
            mic=entry.mic or None,
            awaiting_mdn=outcome.result == "transmitted",
        )
    if outcome.mdn is not None:
        _event(entry, "PartnerMdnReceived", **outcome.mdn)
    if outcome.result == "delivered":
        _event(entry, "PartnerDocumentDelivered", attempts=attempt)
    if entry.status == OUT.DEAD:
        _event(entry, "PartnerDocumentDeadLettered", attempts=attempt, error=entry.last_error)


@transaction.atomic
def outbox_mdn_settle(*, entry_id: int, mdn: dict, now: datetime | None = None) -> str:
    """An asynchronous MDN arrived for an entry AWAITING_MDN: good → DELIVERED; bad → DEAD (the
    partner refused the message; resending the same bytes would be refused the same way)."""
    now = now or timezone.now()
    entry = (
        OutboxEntry.objects.select_for_update()
        .select_related("connection__supplier")
        .filter(pk=entry_id, status__in=[OUT.AWAITING_MDN, OUT.SENDING, OUT.QUEUED])
        .first()
    )
    if entry is None:
        return ""
    entry.lease_until = None
    _event(entry, "PartnerMdnReceived", **mdn)
    error = mdn.get("problem") or ""
    if mdn["good"]:
        entry.status, entry.delivered_at, entry.last_error = OUT.DELIVERED, now, ""
        entry.save()
        _event(entry, "PartnerDocumentDelivered", attempts=entry.attempts)
    else:
        entry.status, entry.dead_at, entry.last_error = OUT.DEAD, now, error[:4000]
        entry.save()
        _event(entry, "PartnerDocumentDeadLettered", attempts=entry.attempts, error=entry.last_error)
    return entry.status


def outbox_expire_mdn_waits(*, now: datetime | None = None) -> list[int]:
    """Entries whose asynchronous MDN did not come within PARTNER_MDN_TIMEOUT_SECONDS count the try
    as failed and are queued again (the partner dedupes the resend by its unchanged Message-ID)."""
    now = now or timezone.now()
    expired = []
    for entry_id in OutboxEntry.objects.filter(status=OUT.AWAITING_MDN, next_attempt_at__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            entry = (
                OutboxEntry.objects.select_for_update(skip_locked=True)
                .filter(pk=entry_id, status=OUT.AWAITING_MDN)
                .first()
            )
            if entry is None:
                continue
            entry.status = OUT.SENDING
            entry.save(update_fields=["status"])
        claim = Claim(entry.pk, entry.attempts, entry.connection_id, entry.protocol, entry.remote_name, now)
        outbox_record(claim=claim, outcome=Outcome("failed", error="no MDN arrived in time"), now=now)
        expired.append(entry_id)
    return expired


def outbox_due(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(
        OutboxEntry.objects.filter(next_attempt_at__lte=now)
        .filter(Q(status=OUT.QUEUED) | Q(status=OUT.SENDING, lease_until__lte=now))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


# --- Ops -----------------------------------------------------------------------------------------


@transaction.atomic
def outbox_entry_resend(*, entry_id: int, actor: str = "") -> OutboxEntry:
    """Queue a DEAD entry again, due now, with a fresh try budget, and close the partner's circuit
    (ops resending say the partner is back). Raises OutboxEntryNotFound and OutboxEntryNotDead (a live
    entry is already being sent)."""
    entry = OutboxEntry.objects.select_for_update().select_related("connection__supplier").filter(pk=entry_id).first()
    if entry is None:
        raise OutboxEntryNotFound(f"No outbox entry {entry_id}.", outbox_id=entry_id)
    if entry.status != OUT.DEAD:
        raise OutboxEntryNotDead(
            f"Outbox entry {entry_id} is {entry.status}, not a dead letter.", outbox_id=entry_id, status=entry.status
        )
    entry.status, entry.attempts, entry.dead_at = OUT.QUEUED, 0, None
    entry.next_attempt_at = timezone.now()
    entry.save()
    circuit.circuit_close(entry.connection.supplier.code)
    _event(entry, "PartnerDocumentResent", actor=actor or None)
    transaction.on_commit(partial(_kick, entry.pk))
    return entry
