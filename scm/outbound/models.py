"""The shared state of every partner's circuit breaker: one row per partner, in the database, so every
web and worker process (on any machine) sees the same circuit."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class BreakerState(models.TextChoices):
    CLOSED = "closed", "Closed"
    OPEN = "open", "Open"
    HALF_OPEN = "half_open", "Half open (one probe allowed)"


class Breaker(models.Model):
    """A partner's circuit, named `<kind>:<id>` or `<kind>@<host:port>` (`webhook:12`, `tms@tms.example:443`,
    `supplier-feed:ACME`, `carrier-feed:DHL`). A row exists once the partner first failed."""

    name = models.CharField(max_length=200, primary_key=True)
    state = models.CharField(max_length=16, choices=BreakerState.choices, default=BreakerState.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    opened_until = models.DateTimeField(null=True, blank=True, help_text="When open: calls are refused until then.")
    probe_started_at = models.DateTimeField(null=True, blank=True, help_text="When half open: the probe's start.")
    last_error = models.TextField(blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    times_opened = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state=BreakerState.OPEN) | Q(opened_until__isnull=False),
                name="outbound_breaker_open_has_until",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.state}"
