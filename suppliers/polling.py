"""Polling supplier endpoints: an HTTP feed and a drop folder per supplier, on the supplier's interval.

HTTP feed protocol (docs/SUPPLIERS.md): a GET of `feed_url` returns the supplier's current message
as the body (any format), 204 or 304 when there is nothing new. We send `If-None-Match` with the
last ETag, and a body identical to the last one stored from the same URL is not stored again.
One call per task run: the Celery task retries transient failures (connection errors, timeouts,
5xx, 429) with exponential backoff and jitter, and after the last retry records the poll as FAILED
(a dead letter on the dashboard); the next scheduled poll simply tries again.

Drop folder: every regular file directly in the folder (hidden, `.tmp` and `.part` files are
skipped: they are still being written) is stored raw and committed, and only then moved to
`processed/`. A crash between the two leaves the file in place; the next poll stores it again and
processing recognises the copy as a DUPLICATE by its checksum, so nothing is lost or applied twice.
Files above the size limit are moved to `rejected/` and the poll says why.
"""

from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from suppliers.inbound import enqueue_processing, inbound_message_store, max_message_bytes
from suppliers.models import (
    InboundMessage,
    MessageSource,
    PollAttempt,
    PollChannel,
    PollStatus,
    Supplier,
)

log = logging.getLogger(__name__)

PROCESSED_DIR = "processed"
REJECTED_DIR = "rejected"
SKIPPED_SUFFIXES = (".tmp", ".part", ".partial")
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff_seconds(retries: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: half of min(cap, base·2^n) fixed, the other half random, so
    retries of many suppliers spread out but none fires at once."""
    base = settings.SUPPLIER_POLL_BACKOFF_BASE_SECONDS
    cap = settings.SUPPLIER_POLL_BACKOFF_CAP_SECONDS
    ceiling = min(cap, base * (2**retries))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


# --- Scheduling ----------------------------------------------------------------------------------


def suppliers_due(*, now: datetime | None = None) -> list[int]:
    """Claim the suppliers whose poll is due (one conditional UPDATE each, so two beat ticks or two
    schedulers never poll one supplier twice for one slot) and return their ids."""
    now = now or timezone.now()
    candidates = (
        Supplier.objects.filter(active=True)
        .filter(~Q(feed_url="") | ~Q(drop_folder=""))
        .values_list("pk", "last_polled_at", "poll_interval_seconds")
    )
    due = []
    for pk, last, interval in candidates:
        if last is not None and last + timedelta(seconds=interval) > now:
            continue
        claimed = Supplier.objects.filter(pk=pk)
        claimed = claimed.filter(last_polled_at__isnull=True) if last is None else claimed.filter(last_polled_at=last)
        if claimed.update(last_polled_at=now):
            due.append(pk)
    return due


def poll_attempt_record(
    *,
    supplier_id: int,
    channel: str,
    status: str,
    started_at: datetime,
    tries: int = 1,
    messages_stored: int = 0,
    error: str = "",
) -> PollAttempt:
    return PollAttempt.objects.create(
        supplier_id=supplier_id,
        channel=channel,
        status=status,
        started_at=started_at,
        finished_at=timezone.now(),
        tries=tries,
        messages_stored=messages_stored,
        error=error[:4000],
    )


# --- HTTP feed -----------------------------------------------------------------------------------


@dataclass
class FetchResult:
    """One GET of a feed: `stored` (a new message), `nothing`, `retry` (transient) or `failed` (permanent)."""

    outcome: str
    error: str = ""
    message_ids: list[int] = field(default_factory=list)


def http_feed_fetch(*, supplier_id: int, session: requests.Session | None = None) -> FetchResult:
    """Call the supplier's feed once and store what it returned. No transaction is open during the call."""
    supplier = Supplier.objects.get(pk=supplier_id)
    if not supplier.feed_url:
        return FetchResult("nothing")
    url = supplier.feed_url
    headers = {"Accept": "*/*", "User-Agent": "scm-suppliers/1"}
    if supplier.feed_etag:
        headers["If-None-Match"] = supplier.feed_etag
    limit = max_message_bytes()
    caller = session or requests
    try:
        with caller.get(url, headers=headers, timeout=settings.SUPPLIER_HTTP_TIMEOUT_SECONDS, stream=True) as response:
            status = response.status_code
            if status in (204, 304):
                return FetchResult("nothing")
            if status in RETRYABLE_STATUS:
                return FetchResult("retry", f"HTTP {status} from {url}")
            if status >= 400:
                return FetchResult("failed", f"HTTP {status} from {url} (not retried: the request itself was refused)")
            chunks, size = [], 0
            for chunk in response.iter_content(chunk_size=65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return FetchResult("failed", f"the feed response is larger than the {limit}-byte limit")
            body = b"".join(chunks)
            content_type = response.headers.get("Content-Type", "")
            etag = response.headers.get("ETag", "")
    except requests.RequestException as exc:
        return FetchResult("retry", f"{type(exc).__name__} calling {url}: {exc}")
    if not body:
        return FetchResult("nothing")
    last = (
        InboundMessage.objects.filter(supplier=supplier, source=MessageSource.HTTP_POLL, filename=url[:500])
        .order_by("-pk")
        .values_list("sha256", flat=True)
        .first()
    )
    if last == InboundMessage.checksum(body):
        return FetchResult("nothing")
    message = inbound_message_store(
        body=body, source=MessageSource.HTTP_POLL, supplier=supplier, content_type=content_type, filename=url
    )
    Supplier.objects.filter(pk=supplier.pk).update(feed_etag=etag[:200])
    enqueue_processing(message.pk)
    return FetchResult("stored", message_ids=[message.pk])


# --- Drop folder ---------------------------------------------------------------------------------


def _move(path: Path, folder: Path, suffix: str) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{suffix}{path.suffix}"
    os.replace(path, target)
    return target


def drop_folder_poll(*, supplier_id: int) -> PollAttempt:
    """Store every waiting file (committed), then move it to processed/; one PollAttempt per run."""
    supplier = Supplier.objects.get(pk=supplier_id)
    started = timezone.now()
    folder = Path(supplier.drop_folder)
    if not folder.is_dir():
        return poll_attempt_record(
            supplier_id=supplier.pk,
            channel=PollChannel.FOLDER,
            status=PollStatus.FAILED,
            started_at=started,
            error=f"drop folder {folder} does not exist or is not a directory",
        )
    stored, errors = 0, []
    limit = max_message_bytes()
    for path in sorted(folder.iterdir()):
        if (
            not path.is_file()
            or path.name in (PROCESSED_DIR, REJECTED_DIR)
            or path.name.startswith(".")
            or path.name.endswith(SKIPPED_SUFFIXES)
        ):
            continue
        try:
            size = path.stat().st_size
            if size > limit:
                target = _move(path, folder / REJECTED_DIR, timezone.now().strftime("%Y%m%d%H%M%S"))
                errors.append(f"{path.name}: {size} bytes is above the {limit}-byte limit; moved to {target}")
                continue
            body = path.read_bytes()
        except OSError as exc:
            errors.append(f"{path.name}: cannot read: {exc}")
            continue
        message = inbound_message_store(body=body, source=MessageSource.FOLDER, supplier=supplier, filename=str(path))
        stored += 1
        try:
            _move(path, folder / PROCESSED_DIR, str(message.pk))
        except OSError as exc:
            errors.append(
                f"{path.name}: stored as message {message.pk} but not moved to {PROCESSED_DIR}/ ({exc}); "
                "the next poll will store it again and it will be recognised as a duplicate"
            )
        enqueue_processing(message.pk)
    with transaction.atomic():
        return poll_attempt_record(
            supplier_id=supplier.pk,
            channel=PollChannel.FOLDER,
            status=PollStatus.FAILED if errors else PollStatus.SUCCEEDED,
            started_at=started,
            messages_stored=stored,
            error="\n".join(errors),
        )
