"""Webhook subscriptions and their deliveries, one row per (endpoint, event)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class WebhookEndpoint(models.Model):
    """A URL that receives the events it subscribes to, signed with its own secret.

    Only events after `start_position` (the log head when the endpoint was created) are
    delivered, so a new endpoint does not receive the whole history.
    """

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Event types to deliver; empty means all.")
    secret = models.CharField(max_length=256, help_text="Shared secret for the X-SCM-Signature HMAC.")
    active = models.BooleanField(default=True)
    start_position = models.BigIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    DELIVERED = "DELIVERED", "Delivered"
    DEAD = "DEAD", "Dead (gave up)"


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint.

    PENDING until the receiver answers 2xx (DELIVERED) or `WEBHOOK_MAX_ATTEMPTS` attempts failed
    (DEAD). A worker that claims it pushes `next_attempt_at` forward by the lease and sets
    `claimed_until` (the claim counts against the endpoint's in-flight limit until then), so while
    its HTTP request is in flight nobody else sends it, and a lost worker's claim simply expires.
    Within one endpoint and stream, a delivery is sent only after every earlier one is DELIVERED.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_position = models.BigIntegerField()
    event_id = models.UUIDField()
    stream = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="Claimed by a worker until then.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_position"], name="webhook_delivery_once_per_event"),
            models.CheckConstraint(
                condition=Q(status=DeliveryStatus.PENDING, delivered_at__isnull=True)
                | Q(status=DeliveryStatus.DELIVERED, delivered_at__isnull=False)
                | Q(status=DeliveryStatus.DEAD, delivered_at__isnull=True),
                name="webhook_delivery_delivered_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx"),
            # Attempts in flight per endpoint: only claimed rows are indexed.
            models.Index(
                fields=["endpoint", "claimed_until"],
                condition=Q(claimed_until__isnull=False),
                name="webhook_delivery_claimed_idx",
            ),
            # The "is an earlier delivery of this stream still open?" check reads only open rows.
            models.Index(
                fields=["endpoint", "stream", "event_position"],
                condition=~Q(status=DeliveryStatus.DELIVERED),
                name="webhook_delivery_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery #{self.pk} of event {self.event_position} to endpoint {self.endpoint_id} ({self.status})"
