"""Reads of the breaker state, for readiness, metrics, the API, the admin and the dashboard."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Concat

from scm.outbound.breaker import partner_kind
from scm.outbound.models import Breaker, BreakerState


@dataclass(frozen=True)
class BreakerView:
    name: str
    kind: str
    state: str
    consecutive_failures: int
    opened_until: datetime | None
    last_error: str
    last_failure_at: datetime | None
    times_opened: int

    probe_started_at: datetime | None = None

    def calls_allowed(self, *, now: datetime) -> int | None:
        """How many calls may go out now: None (no limit: closed), 1 (a probe is due: open past its
        time, or half open with a probe that never reported) or 0 (open, or a probe is out)."""
        if self.state == BreakerState.CLOSED:
            return None
        if self.state == BreakerState.OPEN:
            return 1 if self.opened_until is None or self.opened_until <= now else 0
        stuck_before = now - timedelta(seconds=settings.OUTBOUND_BREAKER_PROBE_TIMEOUT_SECONDS)
        return 1 if self.probe_started_at is None or self.probe_started_at <= stuck_before else 0

    @classmethod
    def of(cls, row: Breaker) -> BreakerView:
        return cls(
            name=row.name,
            kind=partner_kind(row.name),
            state=row.state,
            consecutive_failures=row.consecutive_failures,
            opened_until=row.opened_until,
            last_error=row.last_error,
            last_failure_at=row.last_failure_at,
            times_opened=row.times_opened,
            probe_started_at=row.probe_started_at,
        )


CLOSED = BreakerView("", "", BreakerState.CLOSED, 0, None, "", None, 0)


def breakers_open() -> list[BreakerView]:
    """Every breaker that is not closed (open, or half open with a probe out), by name.

    An open breaker whose `opened_until` has passed is still listed: no probe has closed it yet.
    """
    rows = Breaker.objects.exclude(state=BreakerState.CLOSED).order_by("name")
    return [BreakerView.of(row) for row in rows]


def breaker_get(*, name: str) -> BreakerView:
    """The breaker of one partner; a partner that never failed reads as closed."""
    row = Breaker.objects.filter(name=name).first()
    return BreakerView.of(row) if row else replace(CLOSED, name=name, kind=partner_kind(name))


def breaker_counts() -> dict[tuple[str, str], int]:
    """(partner kind, state) -> how many breakers are in that state, for states other than closed."""
    names = Breaker.objects.exclude(state=BreakerState.CLOSED).values_list("name", "state")
    return dict(Counter((partner_kind(name), state) for name, state in names))


def with_breaker(queryset: QuerySet, *, prefix: str) -> QuerySet:
    """Annotate rows of a partner table with their breaker (named `<prefix><pk>`): `breaker_state`
    (null when the partner never failed), `breaker_opened_until`, `breaker_probe_started_at`,
    `breaker_consecutive_failures`, `breaker_last_error`, in the same query."""
    breaker = Breaker.objects.filter(name=Concat(Value(prefix), Cast(OuterRef("pk"), CharField())))
    return queryset.annotate(
        breaker_state=Subquery(breaker.values("state")[:1]),
        breaker_opened_until=Subquery(breaker.values("opened_until")[:1]),
        breaker_probe_started_at=Subquery(breaker.values("probe_started_at")[:1]),
        breaker_consecutive_failures=Subquery(breaker.values("consecutive_failures")[:1]),
        breaker_last_error=Subquery(breaker.values("last_error")[:1]),
    )


def breaker_lets_calls(*, now: datetime) -> Q:
    """A filter for rows annotated by `with_breaker`: partners a call may go to at `now` (never
    failed, closed, open past its time so a probe is due, or half open with a probe that never
    reported). Written as a positive condition: the annotations are null for partners without a row."""
    stuck_before = now - timedelta(seconds=settings.OUTBOUND_BREAKER_PROBE_TIMEOUT_SECONDS)
    return (
        Q(breaker_state__isnull=True)
        | Q(breaker_state=BreakerState.CLOSED)
        | Q(breaker_state=BreakerState.OPEN, breaker_opened_until__lte=now)
        | Q(breaker_state=BreakerState.HALF_OPEN, breaker_probe_started_at__lte=stuck_before)
    )
