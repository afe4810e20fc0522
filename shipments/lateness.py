"""The late rules: which delay causes hold for a shipment now.

Shared by the detector (`shipments.services.late`) and the late list (`shipments.selectors`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from shipments.models import IN_FLIGHT_STATUSES, OPEN_STATUSES, DelayCause, Shipment


def delay_causes(shipment: Shipment, *, now: datetime, stale_after: timedelta) -> list[tuple[str, str]]:
    """The detector's causes that hold for this shipment right now: (cause, human detail)."""
    if shipment.status not in OPEN_STATUSES:
        return []
    causes = []
    promised, eta = shipment.promised_date, shipment.estimated_arrival
    if promised and eta and eta > promised:
        causes.append((DelayCause.ETA_AFTER_PROMISE, f"estimated arrival {eta} is after the promised {promised}"))
    if promised and timezone.localdate(now) > promised:
        causes.append((DelayCause.PROMISE_MISSED, f"promised for {promised}, still {shipment.status}"))
    if shipment.status in IN_FLIGHT_STATUSES:
        last = shipment.last_update_at or shipment.departed_at
        if last is not None and last < now - stale_after:
            hours = int((now - last).total_seconds() // 3600)
            causes.append((DelayCause.NO_UPDATE, f"no tracking update for {hours} h (since {last.isoformat()})"))
    return causes


def stale_after() -> timedelta:
    return timedelta(hours=settings.SHIPMENT_STALE_AFTER_HOURS)
