"""Supply in motion: carriers, shipments and their lines, raw tracking updates, delay marks.
(The TMS circuit breaker's state is a row of `scm.outbound`'s breaker table.)

Invariants kept by the database:
- a shipment is for exactly one of an order reference or a transfer reference (CHECK);
- planning is idempotent: one shipment per (order_ref, transfer_ref, plan_key) (UNIQUE);
- a tracking number belongs to one shipment per carrier (UNIQUE where set);
- a shipment line has a positive quantity, and one line per (sku, holder) (CHECK, UNIQUE);
- a delay cause is marked (and its event appended) once per shipment (UNIQUE);
- at most one carrier is the default (UNIQUE where is_default).

The status is a django-fsm field (`protected=True`): it changes only through the `@transition`
methods below, which touch fields and nothing else. `shipments.services` runs them under a row
lock, saves, and appends the event in one transaction.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition


class Carrier(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    tracking_url_template = models.CharField(
        max_length=500, blank=True, help_text="Public tracking page, with {tracking_number} where the number goes."
    )
    service_levels = models.JSONField(
        default=list, blank=True, help_text='Service levels offered, e.g. ["standard", "express"]; first is default.'
    )
    transit_days = models.PositiveIntegerField(
        default=2, help_text="Days from planning to arrival the built-in planner promises (no TMS)."
    )
    is_default = models.BooleanField(default=False, help_text="Used by the built-in planner when no TMS is set.")
    active = models.BooleanField(default=True)
    tracking_feed_url = models.URLField(blank=True, help_text="Polled for tracking updates (GET, JSON list).")
    feed_cursor = models.DateTimeField(
        null=True, blank=True, help_text="Latest occurred_at seen in the feed; sent as ?since= on the next poll."
    )
    feed_polled_at = models.DateTimeField(null=True, blank=True)
    feed_last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="carrier_code_not_blank"),
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="carrier_one_default"),
        ]

    def __str__(self) -> str:
        return self.code

    def tracking_url(self, tracking_number: str | None) -> str:
        """The public tracking page, or "" when there is none or it would not be an http(s) URL (a
        template saved before that rule, or one a tracking number could turn into something else)."""
        from scm.outbound import is_http_url

        if not tracking_number or "{tracking_number}" not in self.tracking_url_template:
            return ""
        url = self.tracking_url_template.replace("{tracking_number}", quote(tracking_number, safe=""))
        return url if is_http_url(url) else ""


class ShipmentStatus(models.TextChoices):
    PLANNED = "PLANNED", "Planned"
    DEPARTED = "DEPARTED", "Departed"
    IN_TRANSIT = "IN_TRANSIT", "In transit"
    EXCEPTION = "EXCEPTION", "Exception"
    DELIVERED = "DELIVERED", "Delivered"
    CANCELLED = "CANCELLED", "Cancelled"


OPEN_STATUSES = (ShipmentStatus.PLANNED, ShipmentStatus.DEPARTED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)
IN_FLIGHT_STATUSES = (ShipmentStatus.DEPARTED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION)
CLOSED_STATUSES = (ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED)


class Shipment(FSMModelMixin, models.Model):
    """Goods leaving one location for an order (or a transfer), with one carrier booking."""

    order_ref = models.CharField(max_length=64, blank=True, db_index=True, help_text="e.g. order-42")
    transfer_ref = models.CharField(max_length=64, blank=True, db_index=True)
    plan_key = models.CharField(max_length=128, help_text="Caller's key: planning twice with it plans once.")
    from_location = models.CharField(max_length=32, help_text="Location code the goods leave from.")
    carrier = models.ForeignKey(Carrier, on_delete=models.PROTECT, related_name="shipments")
    service_level = models.CharField(max_length=32, blank=True)
    tracking_number = models.CharField(max_length=64, null=True, blank=True)
    status = FSMField(default=ShipmentStatus.PLANNED, choices=ShipmentStatus.choices, protected=True)
    promised_date = models.DateField(null=True, blank=True, help_text="Delivery date promised to the customer.")
    estimated_arrival = models.DateField(null=True, blank=True, help_text="Latest ETA from the TMS or carrier.")
    planned_at = models.DateTimeField(default=timezone.now)
    departed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(
        default=timezone.now, help_text="When the event that set the current status happened."
    )
    last_update_at = models.DateTimeField(
        null=True, blank=True, help_text="Occurred-at of the newest applied tracking update (or departure)."
    )
    last_note = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(order_ref="") & ~Q(transfer_ref="")) | (~Q(order_ref="") & Q(transfer_ref="")),
                name="shipment_order_xor_transfer",
            ),
            models.CheckConstraint(condition=~Q(plan_key=""), name="shipment_plan_key_not_blank"),
            models.UniqueConstraint(fields=["order_ref", "transfer_ref", "plan_key"], name="shipment_plan_key_unique"),
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=Q(tracking_number__isnull=False),
                name="shipment_tracking_unique_per_carrier",
            ),
        ]
        indexes = [
            models.Index(fields=["tracking_number"], name="shipment_tracking_number"),
            models.Index(fields=["status", "last_update_at"], name="shipment_status_last_update"),
        ]

    def __str__(self) -> str:
        return f"shipment-{self.pk} ({self.reference}, {self.status})"

    @property
    def stream(self) -> str:
        return f"shipment-{self.pk}"

    @property
    def reference(self) -> str:
        return self.order_ref or self.transfer_ref

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    # --- Transitions: field changes only, no I/O --------------------------------------------

    @transition(field=status, source=ShipmentStatus.PLANNED, target=ShipmentStatus.DEPARTED)
    def depart(self, at: datetime) -> None:
        self.departed_at = at
        self._moved(at)

    @transition(
        field=status, source=[ShipmentStatus.DEPARTED, ShipmentStatus.EXCEPTION], target=ShipmentStatus.IN_TRANSIT
    )
    def mark_in_transit(self, at: datetime) -> None:
        self._moved(at)

    @transition(
        field=status, source=[ShipmentStatus.DEPARTED, ShipmentStatus.IN_TRANSIT], target=ShipmentStatus.EXCEPTION
    )
    def mark_exception(self, at: datetime) -> None:
        self._moved(at)

    @transition(
        field=status,
        source=[ShipmentStatus.DEPARTED, ShipmentStatus.IN_TRANSIT, ShipmentStatus.EXCEPTION],
        target=ShipmentStatus.DELIVERED,
    )
    def deliver(self, at: datetime) -> None:
        self.delivered_at = at
        self._moved(at)

    @transition(field=status, source=ShipmentStatus.PLANNED, target=ShipmentStatus.CANCELLED)
    def cancel(self, at: datetime, reason: str) -> None:
        self.cancelled_at = at
        self.cancel_reason = reason
        self.status_changed_at = at

    def _moved(self, at: datetime) -> None:
        self.status_changed_at = at
        if self.last_update_at is None or at > self.last_update_at:
            self.last_update_at = at


class ShipmentLine(models.Model):
    """Units of one SKU leaving with the shipment, taken from the reservation `holder` holds at
    the shipment's location (e.g. order-42/line-7)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    qty = models.PositiveIntegerField()
    holder = models.CharField(max_length=200, help_text="The reservation this line consumes at departure.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(qty__gt=0), name="shipment_line_qty_positive"),
            models.UniqueConstraint(fields=["shipment", "sku", "holder"], name="shipment_line_unique"),
        ]
        indexes = [models.Index(fields=["holder"], name="shipment_line_holder")]

    def __str__(self) -> str:
        return f"{self.qty} x {self.sku} ({self.holder})"


class TrackingStatus(models.TextChoices):
    DEPARTED = "DEPARTED", "Departed"
    IN_TRANSIT = "IN_TRANSIT", "In transit"
    DELAYED = "DELAYED", "Delayed"
    EXCEPTION = "EXCEPTION", "Exception"
    DELIVERED = "DELIVERED", "Delivered"


class UpdateOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    DUPLICATE = "duplicate", "Duplicate"
    STALE = "stale", "Stale (recorded, not applied)"
    UNKNOWN_TRACKING = "unknown_tracking", "Unknown tracking number"
    REJECTED = "rejected", "Rejected"
    MALFORMED = "malformed", "Malformed"


class UpdateSource(models.TextChoices):
    WEBHOOK = "webhook", "Carrier webhook"
    FEED = "feed", "Polled carrier feed"
    API = "api", "API (per shipment)"


class TrackingUpdate(models.Model):
    """Every tracking update ever received, stored before it is applied, with what was done with it.

    Never deleted: duplicates, out-of-order, unknown and malformed updates stay here as evidence.
    """

    source = models.CharField(max_length=16, choices=UpdateSource.choices)
    carrier_code = models.CharField(max_length=32, blank=True, help_text="As sent; may name no known carrier.")
    tracking_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=32, blank=True, help_text="Canonical status (raw text if malformed).")
    occurred_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    estimated_arrival = models.DateField(null=True, blank=True)
    raw = models.JSONField(default=dict, help_text="The update exactly as it arrived (parsed JSON).")
    received_at = models.DateTimeField(default=timezone.now)
    shipment = models.ForeignKey(
        Shipment, null=True, blank=True, on_delete=models.PROTECT, related_name="tracking_updates"
    )
    outcome = models.CharField(max_length=16, choices=UpdateOutcome.choices, default=UpdateOutcome.PENDING)
    outcome_detail = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    event_position = models.BigIntegerField(null=True, blank=True, help_text="Last event this update appended.")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["shipment", "status", "occurred_at"], name="tracking_update_dedupe"),
            models.Index(fields=["tracking_number"], name="tracking_update_number"),
            models.Index(fields=["outcome", "received_at"], name="tracking_update_outcome"),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_number} {self.status} @ {self.occurred_at} ({self.outcome})"


class DelayCause(models.TextChoices):
    ETA_AFTER_PROMISE = "eta_after_promise", "Estimated arrival after the promised date"
    PROMISE_MISSED = "promise_missed", "Promised date passed, not delivered"
    NO_UPDATE = "no_update", "No tracking update for too long"
    CARRIER_REPORTED = "carrier_reported", "Carrier reported a delay"


class ShipmentDelay(models.Model):
    """A delay cause found on a shipment; its `ShipmentDelayed` event is appended once, with the mark."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="delays")
    cause = models.CharField(max_length=24, choices=DelayCause.choices)
    detail = models.TextField(blank=True)
    detected_at = models.DateTimeField(default=timezone.now)
    event_position = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["shipment", "cause"], name="shipment_delay_once_per_cause")]

    def __str__(self) -> str:
        return f"shipment-{self.shipment_id}: {self.cause}"


class PlanningOutcome(models.TextChoices):
    PLANNED = "planned", "Planned"
    RETRYABLE_FAILURE = "retryable_failure", "Failed, retryable"
    REJECTED = "rejected", "Rejected"


class PlanningAttempt(models.Model):
    """One call of `shipment_plan` that reached the planner (TMS or built-in), with its result, so
    ops can see why an order's shipment could not be planned."""

    order_ref = models.CharField(max_length=64, blank=True, db_index=True)
    transfer_ref = models.CharField(max_length=64, blank=True)
    plan_key = models.CharField(max_length=128)
    planner = models.CharField(max_length=16, help_text="tms or builtin")
    outcome = models.CharField(max_length=24, choices=PlanningOutcome.choices)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    http_attempts = models.PositiveIntegerField(default=0)
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.order_ref or self.transfer_ref}/{self.plan_key}: {self.outcome}"
