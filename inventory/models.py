"""Stock at rest: items, locations, the append-only ledger and the balance projection.

Invariants kept by the database, not by Python:
- balance: on_hand >= 0, reserved >= 0, reserved <= on_hand, inbound >= 0 (CHECK);
- one balance per item and location, one open reservation record per holder and balance (UNIQUE);
- ledger rows are never updated or deleted (trigger, like the event log).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from scm.events.exceptions import AppendOnlyViolation


class Item(models.Model):
    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=16, default="EA", help_text="Base unit; quantities are whole base units.")
    pack_size = models.PositiveIntegerField(default=1, help_text="Order multiple for replenishment.")
    active = models.BooleanField(default=True)
    # Reorder policy. An explicit reorder point wins; otherwise it is demand over the lead time plus safety stock.
    reorder_point = models.PositiveIntegerField(null=True, blank=True)
    safety_stock = models.PositiveIntegerField(default=0)
    min_qty = models.PositiveIntegerField(default=0, help_text="Smallest quantity worth ordering.")
    max_qty = models.PositiveIntegerField(null=True, blank=True, help_text="Order up to this position.")
    lead_time_days = models.PositiveIntegerField(default=7)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(pack_size__gte=1), name="item_pack_size_positive"),
            models.CheckConstraint(condition=~Q(sku=""), name="item_sku_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class LocationKind(models.TextChoices):
    WAREHOUSE = "warehouse", "Warehouse"
    STORE = "store", "Store"
    SUPPLIER = "supplier", "Supplier"
    IN_TRANSIT = "in_transit", "In transit"


#: Where stock can be promised and sold from (ATP, allocation, replenishment).
SELLABLE_KINDS = (LocationKind.WAREHOUSE, LocationKind.STORE)


class Location(models.Model):
    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=LocationKind.choices, default=LocationKind.WAREHOUSE)
    active = models.BooleanField(default=True)
    allocation_rank = models.PositiveIntegerField(
        default=100, help_text="Allocation prefers lower ranks when several locations could serve a line."
    )

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=~Q(code=""), name="location_code_not_blank")]

    def __str__(self) -> str:
        return self.code


class Balance(models.Model):
    """Projection of the ledger per item and location, updated in the same transaction as each ledger row."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="balances", db_index=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="balances")
    on_hand = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    inbound = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["item_id", "location_id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "location"], name="balance_item_location_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="balance_on_hand_nonnegative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="balance_reserved_nonnegative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="balance_reserved_within_on_hand"),
            models.CheckConstraint(condition=Q(inbound__gte=0), name="balance_inbound_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}@{self.location_id}: {self.on_hand}/{self.reserved}/{self.inbound}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Bucket(models.TextChoices):
    ON_HAND = "on_hand", "On hand"
    RESERVED = "reserved", "Reserved"
    INBOUND = "inbound", "Inbound"


class Reason(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ADJUSTMENT = "adjustment", "Adjustment"
    COUNT = "count", "Cycle count"
    TRANSFER_OUT = "transfer_out", "Transfer out"
    TRANSFER_IN = "transfer_in", "Transfer in"
    RESERVATION = "reservation", "Reservation"
    RELEASE = "release", "Release"
    SHIPMENT = "shipment", "Shipment"
    INBOUND_ADDED = "inbound_added", "Inbound supply added"
    INBOUND_REMOVED = "inbound_removed", "Inbound supply removed"
    INBOUND_RECEIVED = "inbound_received", "Inbound supply received"


class LedgerQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyViolation("the stock ledger is append-only: bulk update refused")

    def delete(self):
        raise AppendOnlyViolation("the stock ledger is append-only: delete refused")


class LedgerEntry(models.Model):
    """One signed movement of one bucket. Never changed: a correction is another row."""

    # Lookups by item use the (item, location, effective_at) index; a separate one would only slow writes.
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", db_index=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    quantity = models.BigIntegerField()
    reason = models.CharField(max_length=24, choices=Reason.choices)
    reference = models.CharField(max_length=200, blank=True)
    event = models.ForeignKey("events.Event", on_delete=models.PROTECT, related_name="+", db_index=False)
    effective_at = models.DateTimeField(default=timezone.now, help_text="When it happened.")
    recorded_at = models.DateTimeField(default=timezone.now, help_text="When we learned it.")

    objects = LedgerQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "ledger entries"
        constraints = [models.CheckConstraint(condition=~Q(quantity=0), name="ledger_quantity_nonzero")]
        indexes = [
            models.Index(fields=["item", "location", "effective_at"], name="ledger_item_loc_effective"),
            models.Index(fields=["event"], name="ledger_event"),
            models.Index(fields=["reason", "effective_at"], name="ledger_reason_effective"),
        ]

    def __str__(self) -> str:
        return f"{self.reason} {self.quantity:+d} {self.bucket} of {self.item_id}@{self.location_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyViolation(f"ledger entry {self.pk} is recorded and cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyViolation(f"ledger entry {self.pk} is recorded and cannot be deleted")


class Reservation(models.Model):
    """Units held for one holder (e.g. an order line) at one location.

    `quantity` is what is still held; it falls when units are released or shipped. The sum of
    `quantity` over a balance's reservations always equals the balance's `reserved`.
    """

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="reservations", db_index=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="reservations")
    holder = models.CharField(max_length=200, help_text="Who holds it, e.g. order-42/line-1.")
    quantity = models.BigIntegerField(default=0)
    reserved_total = models.BigIntegerField(default=0, help_text="Everything ever reserved under this record.")
    consumed_total = models.BigIntegerField(default=0, help_text="Shipped out of this reservation.")
    released_total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["holder", "item", "location"], name="reservation_holder_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="reservation_quantity_nonnegative"),
            models.CheckConstraint(
                condition=Q(quantity=F("reserved_total") - F("consumed_total") - F("released_total")),
                name="reservation_quantity_adds_up",
            ),
        ]
        indexes = [models.Index(fields=["item", "location"], name="reservation_item_loc")]

    def __str__(self) -> str:
        return f"{self.holder}: {self.quantity} of {self.item_id}@{self.location_id}"


class InboundSupply(models.Model):
    """Units expected at a location by a date: a confirmed PO line, a ship notice or a transfer on its way."""

    # No index of its own: the (item, expected_date) index in Meta serves lookups by item.
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="inbound_supplies", db_index=False)
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="inbound_supplies")
    reference = models.CharField(max_length=200, help_text="The supply document, e.g. PO-1001/1 or ASN-77/3.")
    source = models.CharField(max_length=16, default="po", help_text="po, asn or transfer.")
    quantity = models.BigIntegerField(default=0, help_text="Still expected.")
    expected_date = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["expected_date", "id"]
        verbose_name_plural = "inbound supplies"
        constraints = [
            models.UniqueConstraint(fields=["reference", "item", "location"], name="inbound_reference_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="inbound_quantity_nonnegative"),
        ]
        indexes = [models.Index(fields=["item", "expected_date"], name="inbound_item_expected")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.quantity} of {self.item_id}@{self.location_id} by {self.expected_date}"
