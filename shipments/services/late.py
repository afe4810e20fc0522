"""Late detection: mark open shipments that are late, once per (shipment, cause)."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.db import transaction
from django.utils import timezone

from scm.events.store import append
from shipments import selectors
from shipments.lateness import delay_causes, stale_after
from shipments.models import ShipmentDelay
from shipments.services.payloads import delay_event
from shipments.services.transitions import locked_shipment

log = structlog.get_logger(__name__)


def shipments_detect_late(*, now: datetime | None = None) -> list[ShipmentDelay]:
    """Mark open shipments that are late and append ShipmentDelayed once per (shipment, cause).

    Safe to run concurrently and repeatedly: each mark is made under the shipment's row lock and a
    unique (shipment, cause) index, so a cause is never announced twice.
    """
    now = now or timezone.now()
    window = stale_after()
    marked = []
    for shipment in selectors.late_candidates(now=now, stale_after=window):
        known = {delay.cause for delay in shipment.delays.all()}
        for cause, _ in delay_causes(shipment, now=now, stale_after=window):
            if cause in known:
                continue
            delay = _mark_delay(shipment.pk, cause, now=now, window=window)
            if delay is not None:
                marked.append(delay)
    return marked


def _mark_delay(shipment_id: int, cause: str, *, now: datetime, window: timedelta) -> ShipmentDelay | None:
    with transaction.atomic():
        shipment = locked_shipment(shipment_id)
        holds = dict(delay_causes(shipment, now=now, stale_after=window))
        if cause not in holds or ShipmentDelay.objects.filter(shipment=shipment, cause=cause).exists():
            return None
        delay = ShipmentDelay.objects.create(shipment=shipment, cause=cause, detail=holds[cause], detected_at=now)
        event = append(
            shipment.stream,
            [delay_event(shipment, list(shipment.lines.all()), cause, holds[cause], now, source="detector")],
        )[0]
        delay.event_position = event.position
        delay.save(update_fields=["event_position"])
    log.info("shipment.delayed", shipment_id=shipment_id, cause=cause)
    return delay
