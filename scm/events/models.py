"""Tables of the event log: the events themselves and the subscribers' checkpoints."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from scm.events.exceptions import AppendOnlyViolation


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyViolation("events are append-only: bulk update refused")

    def delete(self):
        raise AppendOnlyViolation("events are append-only: delete refused")


class Event(models.Model):
    """One recorded fact. Rows are only ever inserted (a database trigger enforces it)."""

    position = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stream = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    # PostgreSQL's LIKE index of it is dropped (migration 0006): types are matched exactly.
    type = models.CharField(max_length=100, db_index=True)
    schema_version = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField()
    metadata = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "version"], name="event_stream_version_unique"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="event_version_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.type} {self.stream}@{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyViolation(f"event #{self.position} is recorded and cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation(f"event #{self.position} is recorded and cannot be deleted")


class Subscription(models.Model):
    """A named reader of the log and how far it has got (its checkpoint)."""

    name = models.CharField(max_length=100, unique=True)
    checkpoint = models.BigIntegerField(default=0)
    processed_count = models.BigIntegerField(default=0)
    last_error = models.TextField(blank=True)
    failed_position = models.BigIntegerField(null=True, blank=True)
    failure_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(checkpoint__gte=0), name="subscription_checkpoint_nonnegative")
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.checkpoint}"
