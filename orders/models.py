"""Demand: customers, sales orders and their lines, allocations, and the fulfillment workflow's state.

Lines refer to items by SKU (the inventory app owns items); quantities per line must add up,
which CHECK constraints enforce: reserved + shipped + cancelled <= ordered, delivered <= shipped.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from orders.references import line_holder, order_ref


class Customer(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class OrderStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    RESERVED = "RESERVED", "Reserved"
    BACKORDERED = "BACKORDERED", "Backordered"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED", "Partially fulfilled"
    FULFILLED = "FULFILLED", "Fulfilled"
    CANCELLED = "CANCELLED", "Cancelled"
    FAILED = "FAILED", "Failed"


OPEN_STATUSES = (
    OrderStatus.CREATED,
    OrderStatus.RESERVED,
    OrderStatus.BACKORDERED,
    OrderStatus.PARTIALLY_FULFILLED,
)
STATUS_COLOURS = {
    OrderStatus.CREATED: "grey",
    OrderStatus.RESERVED: "blue",
    OrderStatus.BACKORDERED: "orange",
    OrderStatus.PARTIALLY_FULFILLED: "teal",
    OrderStatus.FULFILLED: "green",
    OrderStatus.CANCELLED: "grey",
    OrderStatus.FAILED: "red",
}

S = OrderStatus


class SalesOrder(ConcurrentTransitionMixin, models.Model):
    """A customer's order. `priority`: 1 is the most urgent; backorders fill by priority, then age."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=5)
    requested_date = models.DateField(null=True, blank=True)
    ship_to = models.TextField(blank=True)
    status = FSMField(default=OrderStatus.CREATED, choices=OrderStatus.choices, protected=True, db_index=True)
    status_reason = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "external_id"], name="order_external_id_unique"),
            models.UniqueConstraint(
                fields=["customer", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="order_idempotency_key_unique",
            ),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=9), name="order_priority_1_to_9"),
        ]
        indexes = [models.Index(fields=["status", "priority", "created_at"], name="order_queue_idx")]

    def __str__(self) -> str:
        return f"order-{self.pk} ({self.external_id})"

    @property
    def stream(self) -> str:
        return order_ref(self.pk)

    # Transitions change the status only; the service saves and appends the event (no I/O here).

    @transition(field=status, source=[S.CREATED, S.BACKORDERED, S.RESERVED], target=S.RESERVED)
    def mark_reserved(self) -> None:
        self.status_reason = ""

    @transition(field=status, source=[S.CREATED, S.BACKORDERED, S.RESERVED], target=S.BACKORDERED)
    def mark_backordered(self) -> None:
        pass

    @transition(field=status, source=[S.RESERVED, S.BACKORDERED, S.PARTIALLY_FULFILLED], target=S.PARTIALLY_FULFILLED)
    def mark_partially_fulfilled(self) -> None:
        pass

    @transition(field=status, source=[S.RESERVED, S.BACKORDERED, S.PARTIALLY_FULFILLED], target=S.FULFILLED)
    def mark_fulfilled(self) -> None:
        pass

    @transition(
        field=status,
        source=[S.CREATED, S.RESERVED, S.BACKORDERED, S.PARTIALLY_FULFILLED, S.FAILED],
        target=S.CANCELLED,
    )
    def mark_cancelled(self, reason: str) -> None:
        self.status_reason = reason

    @transition(field=status, source=[S.CREATED, S.RESERVED, S.BACKORDERED], target=S.FAILED)
    def mark_failed(self, reason: str) -> None:
        self.status_reason = reason

    @transition(field=status, source=[S.FAILED], target=S.CREATED)
    def mark_retried(self) -> None:
        self.status_reason = ""


class OrderLine(models.Model):
    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveIntegerField()
    sku = models.CharField(max_length=64, db_index=True)
    ordered = models.PositiveIntegerField()
    reserved = models.PositiveIntegerField(default=0, help_text="Held now, not yet shipped.")
    shipped = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["order_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["order", "line_no"], name="order_line_no_unique"),
            models.CheckConstraint(condition=Q(ordered__gte=1), name="order_line_ordered_positive"),
            models.CheckConstraint(
                condition=Q(ordered__gte=F("reserved") + F("shipped") + F("cancelled")),
                name="order_line_quantities_add_up",
            ),
            models.CheckConstraint(condition=Q(delivered__lte=F("shipped")), name="order_line_delivered_le_shipped"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_no} {self.sku} x{self.ordered}"

    @property
    def holder(self) -> str:
        """The inventory reservation holder for this line."""
        return line_holder(self.order_id, self.pk)

    @property
    def backordered(self) -> int:
        return self.ordered - self.reserved - self.shipped - self.cancelled

    @property
    def open_quantity(self) -> int:
        return self.ordered - self.cancelled


class Allocation(models.Model):
    """How much of a line is reserved (and was shipped) at one location."""

    line = models.ForeignKey(OrderLine, on_delete=models.CASCADE, related_name="allocations")
    location = models.CharField(max_length=32)
    reserved = models.PositiveIntegerField(default=0)
    shipped = models.PositiveIntegerField(default=0)
    planned = models.PositiveIntegerField(default=0, help_text="Reserved units already on a planned shipment.")

    class Meta:
        ordering = ["line_id", "location"]
        constraints = [
            models.UniqueConstraint(fields=["line", "location"], name="allocation_line_location_unique"),
            models.CheckConstraint(condition=Q(planned__lte=F("reserved")), name="allocation_planned_le_reserved"),
        ]

    def __str__(self) -> str:
        return f"{self.line_id}@{self.location}: {self.reserved} reserved, {self.shipped} shipped"


class OrderShipment(models.Model):
    """A shipment of this order as orders knows it (fed by shipment events), so handlers stay idempotent."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="shipments")
    shipment_id = models.BigIntegerField()
    from_location = models.CharField(max_length=32)
    status = models.CharField(max_length=20, default="PLANNED")
    departed = models.BooleanField(default=False)
    delivered = models.BooleanField(default=False)
    lines = models.JSONField(default=list)

    class Meta:
        ordering = ["order_id", "shipment_id"]
        constraints = [models.UniqueConstraint(fields=["order", "shipment_id"], name="order_shipment_unique")]

    def __str__(self) -> str:
        return f"order-{self.order_id} shipment-{self.shipment_id} {self.status}"


class WorkflowStep(models.TextChoices):
    RESERVE = "reserve", "Reserve stock"
    AWAIT_STOCK = "await_stock", "Waiting for stock"
    PLAN_SHIPMENT = "plan_shipment", "Plan shipment"
    AWAIT_DEPARTURE = "await_departure", "Waiting for departure"
    AWAIT_DELIVERY = "await_delivery", "Waiting for delivery"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class FulfillmentWorkflow(models.Model):
    """The durable state of an order's fulfillment saga: which step, how many tries, when next, why not.

    `lease_until` is set while a worker runs a step; a step whose lease expired was abandoned (the
    worker died) and the sweeper hands it to another worker.

    `waiting_for` names the missing configuration a runnable step waits for ("no carrier
    configured"; see orders.workflow_errors), else "". A waiting step keeps the order's
    reservations and counts no attempts; it only ever waits in a step that can run.
    """

    order = models.OneToOneField(SalesOrder, on_delete=models.CASCADE, related_name="workflow")
    step = models.CharField(max_length=20, choices=WorkflowStep.choices, default=WorkflowStep.RESERVE)
    attempts = models.PositiveIntegerField(default=0, help_text="Tries of the current step.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    generation = models.PositiveIntegerField(default=1, help_text="Bumped by each ops retry of a failed order.")
    waiting_for = models.CharField(
        max_length=100, blank=True, default="", help_text="The missing configuration this step waits for."
    )
    waiting_since = models.DateTimeField(null=True, blank=True, help_text="When it started waiting for it.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(waiting_for="", waiting_since__isnull=True)
                | Q(
                    ~Q(waiting_for=""),
                    waiting_since__isnull=False,
                    step__in=[WorkflowStep.RESERVE, WorkflowStep.PLAN_SHIPMENT],
                ),
                name="workflow_waits_only_in_runnable_step",
            ),
        ]
        indexes = [
            # Waiting workflows are few among many: the sweeper, dashboard and metrics read only them.
            models.Index(
                fields=["waiting_for", "next_attempt_at"], condition=~Q(waiting_for=""), name="workflow_waiting_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"workflow order-{self.order_id}: {self.step} (attempt {self.attempts})"

    def stop_waiting(self) -> None:
        """Clear the wait (the caller saves); every write that moves the step off a wait does this."""
        self.waiting_for, self.waiting_since = NOT_WAITING["waiting_for"], NOT_WAITING["waiting_since"]


# Keyword arguments for `.update()` that clear a wait, the queryset twin of `stop_waiting`.
NOT_WAITING = {"waiting_for": "", "waiting_since": None}
