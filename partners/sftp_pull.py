"""Pulling a partner's files from the outbox folder on its SFTP server into the raw vault.

For each regular file (dot files and `.part` files are left alone: still being written):
1. read it whole (within the size limit and the operation timeout); a read that breaks off stores
   nothing and leaves the file where it is, for the next poll;
2. store it byte-exact in the raw vault (`inbound_message_store`, committed) — unless the vault
   already holds these exact bytes under this remote path from this supplier (a file seen again
   because the connection dropped after storing but before removing): then it is not stored twice;
3. only then remove it (or move it to the archive folder) on their side, and record that.

So a dropped connection at any point loses nothing (nothing is removed before it is stored) and
duplicates nothing (the stored copy is found by supplier, path and checksum; the pipeline's checksum
claim is the second guard). Each run is recorded as a supplier PollAttempt (channel "sftp"), so a
failed pull shows with the other poll dead letters on the dashboard.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from partners import breaker, stations
from partners.adapters import sftp
from partners.exceptions import TransportError
from partners.models import AfterPull, PartnerConnection, Protocol, PulledFile
from scm.errors import DomainError
from scm.events.store import NewEvent, append
from suppliers.inbound import enqueue_processing, inbound_message_store, max_message_bytes
from suppliers.models import InboundMessage, PollStatus
from suppliers.polling import poll_attempt_record

log = logging.getLogger(__name__)
SOURCE = "sftp"


def connections_due(*, now: datetime | None = None) -> list[int]:
    """Claim the SFTP connections whose supplier's poll interval has passed (one conditional UPDATE
    each, so two beat ticks never pull one partner twice for one slot)."""
    now = now or timezone.now()
    candidates = (
        PartnerConnection.objects.filter(protocol=Protocol.SFTP, active=True, supplier__active=True)
        .exclude(sftp_outbox_path="")
        .values_list("pk", "last_pulled_at", "supplier__poll_interval_seconds")
    )
    due = []
    for pk, last, interval in candidates:
        if last is not None and last + timedelta(seconds=interval) > now:
            continue
        claimed = PartnerConnection.objects.filter(pk=pk)
        claimed = claimed.filter(last_pulled_at__isnull=True) if last is None else claimed.filter(last_pulled_at=last)
        if claimed.update(last_pulled_at=now):
            due.append(pk)
    return due


@dataclass
class PullResult:
    stored: int = 0
    removed: int = 0
    already_stored: int = 0
    errors: list[str] = field(default_factory=list)


def sftp_pull(*, connection_id: int) -> PullResult:
    """Pull every waiting file of one connection; records one PollAttempt."""
    connection = PartnerConnection.objects.select_related("supplier").get(pk=connection_id)
    started, result = timezone.now(), PullResult()
    if breaker.is_open(connection, now=started):
        result.errors.append(f"not tried: the partner's breaker is open until {connection.breaker_open_until}")
    else:
        try:
            with sftp.Session(stations.sftp_target(connection)) as session:
                for remote in session.list_files(connection.sftp_outbox_path):
                    _pull_one(session, connection, remote, result)
        except (TransportError, DomainError) as exc:
            result.errors.append(getattr(exc, "message", str(exc)))
            breaker.record_failure(connection.pk, now=timezone.now())
        else:
            breaker.record_success(connection.pk)
    with transaction.atomic():
        poll_attempt_record(
            supplier_id=connection.supplier_id,
            channel=SOURCE,
            status=PollStatus.FAILED if result.errors else PollStatus.SUCCEEDED,
            started_at=started,
            messages_stored=result.stored,
            error="\n".join(result.errors),
        )
    return result


def _pull_one(session: sftp.Session, connection: PartnerConnection, remote: sftp.RemoteFile, result: PullResult):
    limit = max_message_bytes()
    if remote.size > limit:
        result.errors.append(f"{remote.path}: {remote.size} bytes is above the {limit}-byte limit; left in place")
        return
    data = session.read(remote.path, max_bytes=limit)
    if len(data) != remote.size:
        result.errors.append(f"{remote.path}: read {len(data)} of {remote.size} bytes (still being written?); left")
        return
    message = _stored_copy(connection, remote.path, data)
    if message is None:
        message = inbound_message_store(body=data, source=SOURCE, supplier=connection.supplier, filename=remote.path)
        _record_pulled(connection, remote.path, message)
        enqueue_processing(message.pk)
        result.stored += 1
    else:
        result.already_stored += 1
    if connection.sftp_after_pull == AfterPull.MOVE:
        session.move(remote.path, connection.sftp_archive_path)
    else:
        session.remove(remote.path)
    PulledFile.objects.filter(connection=connection, remote_path=remote.path, sha256=message.sha256).update(
        removed_at=timezone.now()
    )
    result.removed += 1


def _stored_copy(connection: PartnerConnection, path: str, data: bytes) -> InboundMessage | None:
    """The vault's copy of exactly these bytes from this remote path, if a previous pull stored it."""
    return (
        InboundMessage.objects.filter(
            supplier=connection.supplier, source=SOURCE, filename=path[:500], sha256=InboundMessage.checksum(data)
        )
        .order_by("pk")
        .first()
    )


@transaction.atomic
def _record_pulled(connection: PartnerConnection, path: str, message: InboundMessage) -> None:
    PulledFile.objects.get_or_create(
        connection=connection,
        remote_path=path[:1000],
        sha256=message.sha256,
        defaults={"size": message.size, "inbound_message": message},
    )
    payload = {
        "supplier": connection.supplier.code,
        "protocol": Protocol.SFTP,
        "as2_message_id": None,
        "remote_path": path,
        "inbound_message_id": message.pk,
        "sha256": message.sha256,
        "mic": None,
    }
    append(f"partner-{connection.supplier.code}", [NewEvent(type="PartnerMessageReceived", payload=payload)])
