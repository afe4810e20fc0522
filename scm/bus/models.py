"""The relay's checkpoint: how far the log is published to JetStream, and its recent trouble."""

from __future__ import annotations

from django.db import models


class RelayCheckpoint(models.Model):
    """One row per relay (EVENT_RELAY_NAME). Every event at or below `position` is acknowledged by
    JetStream; the row only ever moves forward, and only after the acknowledgements arrived."""

    name = models.CharField(max_length=100, unique=True)
    position = models.BigIntegerField(default=0)
    published_count = models.BigIntegerField(default=0)
    error_count = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_published_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(position__gte=0), name="relay_checkpoint_position_nonnegative")
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"
