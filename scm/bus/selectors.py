"""Reads of the relay's state for /readyz, /metrics, the dashboard and the ops command."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from scm.bus.models import RelayCheckpoint
from scm.events.store import head_position


@dataclass(frozen=True)
class RelayStatus:
    name: str
    position: int
    head: int
    published_count: int
    error_count: int
    last_error: str
    last_error_at: datetime | None
    last_published_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def lag(self) -> int:
        """Positions between the checkpoint and the log head.

        Positions, not events: a rolled-back append leaves a gap in the sequence, so this can
        overstate the events still to publish by a few; it costs one index lookup, not a count.
        """
        return max(0, self.head - self.position)

    @property
    def failing(self) -> bool:
        """The latest news from the relay is an error (none published since)."""
        if self.last_error_at is None:
            return False
        return self.last_published_at is None or self.last_error_at > self.last_published_at


def relay_enabled() -> bool:
    return bool(settings.NATS_URL)


def relay_status(*, name: str | None = None) -> RelayStatus:
    """The relay's checkpoint (a relay that never ran is at position 0) beside the log head."""
    name = name or settings.EVENT_RELAY_NAME
    row = RelayCheckpoint.objects.filter(name=name).first() or RelayCheckpoint(name=name)
    return RelayStatus(
        name=name,
        position=row.position,
        head=head_position(),
        published_count=row.published_count,
        error_count=row.error_count,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        last_published_at=row.last_published_at,
        heartbeat_at=row.heartbeat_at,
    )


def relay_overview() -> RelayStatus | None:
    """The dashboard's event bus line: None when no relay is configured (NATS_URL unset)."""
    return relay_status() if relay_enabled() else None
