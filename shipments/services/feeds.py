"""Carrier tracking feeds: read a carrier's feed and ingest every item."""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from django.conf import settings
from django.utils import timezone

from scm.errors import ValidationFailed
from shipments.adapters.tracking import fetch_feed
from shipments.exceptions import CarrierFeedError, CarrierNotFound
from shipments.models import Carrier, UpdateOutcome, UpdateSource
from shipments.services.tracking import MalformedTrackingUpdate, tracking_update_ingest

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class FeedPollResult:
    carrier: str
    received: int
    outcomes: dict[str, int]


def carrier_feed_poll(*, code: str, timeout: float | None = None) -> FeedPollResult:
    """Read the carrier's tracking feed and ingest every item (each stored, then applied).

    The HTTP call happens outside any transaction. A feed that cannot be read records the error
    on the carrier and raises CarrierFeedError (retryable or not); one bad item never stops the
    others: it is stored as malformed (or rejected) and the poll goes on.
    """
    carrier = Carrier.objects.filter(code=code).first()
    if carrier is None:
        raise CarrierNotFound(code)
    if not carrier.tracking_feed_url:
        raise ValidationFailed(f"Carrier {code!r} has no tracking feed URL.", carrier=code)
    polled_at = timezone.now()
    try:
        items = fetch_feed(
            carrier.tracking_feed_url,
            carrier=code,
            since=carrier.feed_cursor,
            timeout=timeout if timeout is not None else settings.CARRIER_FEED_TIMEOUT,
        )
    except CarrierFeedError as exc:
        Carrier.objects.filter(pk=carrier.pk).update(feed_polled_at=polled_at, feed_last_error=exc.message)
        log.warning("carrier_feed.failed", carrier=code, error=exc.message)
        raise
    outcomes: dict[str, int] = {}
    cursor = carrier.feed_cursor
    for item in items:
        try:
            update = tracking_update_ingest(raw=item, source=UpdateSource.FEED, carrier=code, raise_rejected=False)
        except MalformedTrackingUpdate:
            outcome = UpdateOutcome.MALFORMED
        else:
            outcome = update.outcome
            if update.occurred_at and (cursor is None or update.occurred_at > cursor):
                cursor = update.occurred_at
        outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + 1
    Carrier.objects.filter(pk=carrier.pk).update(feed_polled_at=polled_at, feed_last_error="", feed_cursor=cursor)
    log.info("carrier_feed.polled", carrier=code, received=len(items), outcomes=outcomes)
    return FeedPollResult(carrier=code, received=len(items), outcomes=outcomes)
