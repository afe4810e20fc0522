"""Celery doors into shipments: each takes plain values, calls one service and is safe to repeat."""

from __future__ import annotations

from celery import shared_task

from scm.periodic import PeriodicTask
from shipments import selectors, services
from shipments.exceptions import CarrierFeedError


@shared_task(name="shipments.tasks.detect_late_shipments", base=PeriodicTask, ignore_result=True)
def detect_late_shipments() -> int:
    """Beat: mark late shipments and announce each cause once (ShipmentDelayed)."""
    return len(services.shipments_detect_late())


@shared_task(name="shipments.tasks.poll_carrier_feeds", base=PeriodicTask, ignore_result=True)
def poll_carrier_feeds() -> int:
    """Beat: one polling task per active carrier that has a tracking feed."""
    codes = selectors.carriers_with_feeds()
    for code in codes:
        poll_carrier_feed.delay(code)
    return len(codes)


@shared_task(
    bind=True,
    name="shipments.tasks.poll_carrier_feed",
    acks_late=True,
    ignore_result=True,
    max_retries=4,
)
def poll_carrier_feed(self, code: str) -> int:
    """Read one carrier's feed. A transient failure retries with exponential backoff and jitter;
    a permanent one (bad body, 4xx) waits for the next beat, its error kept on the carrier."""
    try:
        return services.carrier_feed_poll(code=code).received
    except CarrierFeedError as exc:
        if not exc.retryable or self.request.is_eager:
            return 0
        from celery.utils.time import get_exponential_backoff_interval

        countdown = get_exponential_backoff_interval(
            factor=5, retries=self.request.retries, maximum=300, full_jitter=True
        )
        raise self.retry(exc=exc, countdown=countdown) from None


@shared_task(name="shipments.tasks.reprocess_tracking_updates", base=PeriodicTask, ignore_result=True)
def reprocess_tracking_updates() -> int:
    """Beat: apply updates a dead process left pending, and unknown ones whose shipment now exists."""
    return services.tracking_updates_reprocess()
