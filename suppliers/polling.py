"""Polling supplier endpoints: an HTTP feed and a drop folder per supplier, on the supplier's interval.

HTTP feed protocol (docs/SUPPLIERS.md): a GET of `feed_url` returns the supplier's current message
as the body (any format), 204 or 304 when there is nothing new. We send `If-None-Match` with the
last ETag, and a body identical to the last one stored from the same URL is not stored again.
One call per task run: the Celery task retries transient failures (connection errors, timeouts,
5xx, 429) with exponential backoff and jitter, and after the last retry records the poll as FAILED
(a dead letter on the dashboard); the next scheduled poll simply tries again.

Every call goes through the outbound policy (`scm.outbound`): the feed URL must reach a public
address (or one in OUTBOUND_ALLOWED_NETWORKS), within a total deadline, through the supplier's
breaker. A drop folder must lie inside SUPPLIER_DROP_FOLDER_ROOT (`drop_folders.py`).

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
import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from scm import outbound
from suppliers.drop_folders import drop_folder_resolve
from suppliers.exceptions import DropFolderRefused
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


def feed_breaker_name(code: str) -> str:
    return f"supplier-feed:{code}"


def http_feed_fetch(*, supplier_id: int) -> FetchResult:
    """Call the supplier's feed once, through the outbound policy, and store what it returned.

    No transaction is open during the call. The attempt has a connect timeout, a total deadline
    (SUPPLIER_HTTP_TIMEOUT_SECONDS) and the message size cap; the supplier's breaker
    (`supplier-feed:<code>`) stops calls to a feed that keeps failing. A URL or address the policy
    refuses, an open breaker and an oversized answer are `failed` (not retried now; the next
    scheduled poll tries again).
    """
    supplier = Supplier.objects.get(pk=supplier_id)
    if not supplier.feed_url:
        return FetchResult("nothing")
    url = supplier.feed_url
    headers = {"Accept": "*/*", "User-Agent": "scm-suppliers/1"}
    if supplier.feed_etag:
        headers["If-None-Match"] = supplier.feed_etag
    limit = max_message_bytes()
    budget = outbound.Budget(
        connect=settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, total=settings.SUPPLIER_HTTP_TIMEOUT_SECONDS, max_bytes=limit
    )
    partner = feed_breaker_name(supplier.code)
    try:
        response = outbound.request("GET", url, partner=partner, budget=budget, headers=headers)
    except outbound.ResponseTooLarge:
        return FetchResult("failed", f"the feed response is larger than the {limit}-byte limit")
    except outbound.CircuitOpen as exc:
        return FetchResult("failed", f"calling {url}: {exc.message}")
    except outbound.OutboundError as exc:
        return FetchResult("retry" if exc.retryable else "failed", f"calling {url}: {exc.message}")
    status = response.status_code
    if status in (204, 304):
        return FetchResult("nothing")
    if status in RETRYABLE_STATUS:
        return FetchResult("retry", f"HTTP {status} from {url}")
    if 300 <= status < 400:
        return FetchResult("failed", f"HTTP {status} from {url}: redirects are not followed; set feed_url to it")
    if status >= 400:
        return FetchResult("failed", f"HTTP {status} from {url} (not retried: the request itself was refused)")
    return _store_feed_body(supplier, url, response.content, response.headers)


def _store_feed_body(supplier: Supplier, url: str, body: bytes, headers) -> FetchResult:
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
        body=body,
        source=MessageSource.HTTP_POLL,
        supplier=supplier,
        content_type=headers.get("Content-Type", ""),
        filename=url,
    )
    Supplier.objects.filter(pk=supplier.pk).update(feed_etag=headers.get("ETag", "")[:200])
    enqueue_processing(message.pk)
    return FetchResult("stored", message_ids=[message.pk])


# --- Drop folder ---------------------------------------------------------------------------------


def _move(path: Path, folder: Path, suffix: str) -> Path:
    if folder.is_symlink():
        raise OSError(f"{folder.name}/ is a symbolic link; files are not moved through it")
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{suffix}{path.suffix}"
    os.replace(path, target)
    return target


def _waiting_files(folder: Path) -> list[Path]:
    """Entries that may be messages: not hidden, not still being written, not our own subfolders."""
    return [
        path
        for path in sorted(folder.iterdir())
        if path.name not in (PROCESSED_DIR, REJECTED_DIR)
        and not path.name.startswith(".")
        and not path.name.endswith(SKIPPED_SUFFIXES)
    ]


def _read_regular_file(path: Path, limit: int) -> bytes | int:
    """The file's bytes, or its size when above `limit`. Never follows a symbolic link (O_NOFOLLOW,
    so a link swapped in after the listing fails here too). Raises OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise OSError(f"{path.name} is not a regular file")
        if status.st_size > limit:
            return status.st_size
        body = handle.read(limit + 1)
        return len(body) if len(body) > limit else body


def drop_folder_poll(*, supplier_id: int) -> PollAttempt:
    """Store every waiting file (committed), then move it to processed/; one PollAttempt per run.

    The folder is checked against SUPPLIER_DROP_FOLDER_ROOT first (`drop_folders.py`): a refused
    folder is a FAILED poll naming why, and nothing in it is read or moved. Only regular files are
    read; a symbolic link in the folder is reported, never followed.
    """
    supplier = Supplier.objects.get(pk=supplier_id)
    started = timezone.now()
    try:
        folder = drop_folder_resolve(supplier.drop_folder)
    except DropFolderRefused as exc:
        return poll_attempt_record(
            supplier_id=supplier.pk, channel=PollChannel.FOLDER, status=PollStatus.FAILED, started_at=started,
            error=exc.message,
        )
    if not folder.is_dir():
        return poll_attempt_record(
            supplier_id=supplier.pk,
            channel=PollChannel.FOLDER,
            status=PollStatus.FAILED,
            started_at=started,
            error=f"drop folder {supplier.drop_folder} does not exist or is not a directory",
        )
    stored, errors = 0, []
    for path in _waiting_files(folder):
        if path.is_symlink():
            errors.append(f"{path.name}: a symbolic link; not read (a drop folder takes regular files only)")
            continue
        if not path.is_file():
            continue
        if _take_file(supplier, folder, path, errors):
            stored += 1
    with transaction.atomic():
        return poll_attempt_record(
            supplier_id=supplier.pk,
            channel=PollChannel.FOLDER,
            status=PollStatus.FAILED if errors else PollStatus.SUCCEEDED,
            started_at=started,
            messages_stored=stored,
            error="\n".join(errors),
        )


def _take_file(supplier: Supplier, folder: Path, path: Path, errors: list[str]) -> bool:
    """Store one file raw (committed), then move it to processed/ (or an oversized one to rejected/)."""
    limit = max_message_bytes()
    try:
        body = _read_regular_file(path, limit)
        if isinstance(body, int):
            target = _move(path, folder / REJECTED_DIR, timezone.now().strftime("%Y%m%d%H%M%S"))
            errors.append(f"{path.name}: {body} bytes is above the {limit}-byte limit; moved to {target}")
            return False
    except OSError as exc:
        errors.append(f"{path.name}: cannot read: {exc.strerror or exc}")
        return False
    message = inbound_message_store(body=body, source=MessageSource.FOLDER, supplier=supplier, filename=str(path))
    try:
        _move(path, folder / PROCESSED_DIR, str(message.pk))
    except OSError as exc:
        errors.append(
            f"{path.name}: stored as message {message.pk} but not moved to {PROCESSED_DIR}/ ({exc}); "
            "the next poll will store it again and it will be recognised as a duplicate"
        )
    enqueue_processing(message.pk)
    return True
