"""Per-partner circuit breakers whose state is a database row shared by every process.

CLOSED: calls go out; each transient failure counts, a success resets the count. After
`failure_threshold` consecutive failures the row turns OPEN until `opened_until` (`reset_seconds`
later): calls are refused at once with `CircuitOpen`, the partner is left alone. Then exactly one
caller takes the HALF_OPEN probe (a conditional UPDATE decides who): its success closes the circuit,
its failure opens it again for another `reset_seconds`. A probe that never reports back (its process
died) is replaced after `probe_timeout_seconds`, which must exceed the attempt's budget.

Every transition is one conditional UPDATE, so two processes deciding at once cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from scm.observability import metrics
from scm.outbound.exceptions import CircuitOpen
from scm.outbound.models import Breaker, BreakerState

log = structlog.get_logger(__name__)

_ERROR_LENGTH = 2000


def partner_kind(name: str) -> str:
    """`webhook:12` -> `webhook`, `tms@host:443` -> `tms`: a small fixed set, fit for a metric label."""
    for separator in (":", "@"):
        name = name.split(separator, 1)[0]
    return name or "unknown"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    probe_timeout_seconds: float = 60.0

    @classmethod
    def from_settings(cls) -> BreakerPolicy:
        return cls(
            failure_threshold=settings.OUTBOUND_BREAKER_FAILURE_THRESHOLD,
            reset_seconds=settings.OUTBOUND_BREAKER_RESET_SECONDS,
            probe_timeout_seconds=settings.OUTBOUND_BREAKER_PROBE_TIMEOUT_SECONDS,
        )


@dataclass
class DbBreaker:
    """The breaker of partner `name`. `now` is injectable so tests move its clock."""

    name: str
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    now: Callable[[], datetime] = field(default=timezone.now)
    _clean: bool = field(default=False, init=False, repr=False)  # allow() saw no failure to reset

    def allow(self) -> bool:
        """Return whether this call is the half-open probe; raise CircuitOpen when it must not go out."""
        row = Breaker.objects.filter(name=self.name).only("state", "opened_until", "consecutive_failures").first()
        self._clean = row is None or (row.state == BreakerState.CLOSED and row.consecutive_failures == 0)
        if row is None or row.state == BreakerState.CLOSED:
            return False
        now = self.now()
        rows = Breaker.objects.filter(name=self.name)
        if row.state == BreakerState.OPEN:
            if row.opened_until and now < row.opened_until:
                raise self._open(row.opened_until)
            taken = rows.filter(state=BreakerState.OPEN, opened_until__lte=now).update(
                state=BreakerState.HALF_OPEN, probe_started_at=now
            )
        else:
            stuck_before = now - timedelta(seconds=self.policy.probe_timeout_seconds)
            taken = rows.filter(state=BreakerState.HALF_OPEN, probe_started_at__lte=stuck_before).update(
                probe_started_at=now
            )
        if not taken:
            raise self._open(row.opened_until)
        log.info("breaker.probe", breaker=self.name)
        return True

    def record_success(self) -> None:
        if self._clean:
            return  # nothing to reset (a failure recorded meanwhile by another call is its own news)
        closed = (
            Breaker.objects.filter(name=self.name)
            .exclude(state=BreakerState.CLOSED, consecutive_failures=0)
            .update(state=BreakerState.CLOSED, consecutive_failures=0, opened_until=None, probe_started_at=None)
        )
        if closed:
            log.info("breaker.closed", breaker=self.name)

    def record_failure(self, error: str, *, probe: bool) -> None:
        now = self.now()
        Breaker.objects.get_or_create(name=self.name)
        rows = Breaker.objects.filter(name=self.name)
        reopen_until = now + timedelta(seconds=self.policy.reset_seconds)
        facts = {
            "consecutive_failures": F("consecutive_failures") + 1,
            "last_error": error[:_ERROR_LENGTH],
            "last_failure_at": now,
        }
        if probe:
            rows.update(state=BreakerState.OPEN, opened_until=reopen_until, probe_started_at=None, **facts)
            log.warning("breaker.reopened", breaker=self.name, until=reopen_until.isoformat(), error=error)
            return
        rows.update(**facts)
        opened = rows.filter(state=BreakerState.CLOSED, consecutive_failures__gte=self.policy.failure_threshold).update(
            state=BreakerState.OPEN, opened_until=reopen_until, times_opened=F("times_opened") + 1
        )
        if opened:
            metrics.breakers_opened.labels(kind=partner_kind(self.name)).inc()
            log.warning("breaker.opened", breaker=self.name, until=reopen_until.isoformat(), error=error)

    def release_probe(self) -> None:
        """The probe was never sent (refused before it reached the partner): let the next caller probe."""
        Breaker.objects.filter(name=self.name, state=BreakerState.HALF_OPEN).update(
            state=BreakerState.OPEN, opened_until=self.now(), probe_started_at=None
        )

    def state(self) -> str:
        row = Breaker.objects.filter(name=self.name).only("state").first()
        return row.state if row else BreakerState.CLOSED

    def _open(self, until: datetime | None) -> CircuitOpen:
        metrics.outbound_calls_refused.labels(kind=partner_kind(self.name), reason="circuit_open").inc()
        shown = f" until {until.isoformat()}" if until else ""
        return CircuitOpen(
            f"circuit {self.name!r} is open after repeated failures{shown}; not calling the partner",
            breaker=self.name,
            until=until.isoformat() if until else None,
        )


def breaker_close(*, name: str) -> bool:
    """Ops' override: close a circuit now (the partner is known to be back). Returns whether it changed."""
    closed = (
        Breaker.objects.filter(name=name)
        .exclude(state=BreakerState.CLOSED, consecutive_failures=0)
        .update(state=BreakerState.CLOSED, consecutive_failures=0, opened_until=None, probe_started_at=None)
    )
    if closed:
        log.info("breaker.closed_by_ops", breaker=name)
    return bool(closed)
