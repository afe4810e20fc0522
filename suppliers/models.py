"""Suppliers: master data, purchase orders, and every message exchanged with suppliers.

Invariants kept by the database, not by Python:
- one supplier per code, per X12 sender id and per EDIFACT sender id; one mapping per (supplier, supplier part);
- one purchase order per number, one line per (order, line number); quantities positive;
- inbound messages keep their raw bytes; `MessageClaim` (UNIQUE key) makes sure one checksum and
  one interchange (sender, ISA13) are applied once, also when two copies are processed at the
  same moment (the second insert waits for the first transaction and then conflicts);
- per-supplier X12 control numbers only grow (CHECK >= 1, allocated under a row lock).

Statuses are django-fsm fields with `protected=True`: only the services' transitions change them.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

X12_MAX_CONTROL = 999_999_999


class MessageFormat(models.TextChoices):
    X12 = "x12", "X12 EDI"
    EDIFACT = "edifact", "UN/EDIFACT"
    JSON = "json", "JSON feed"
    CSV = "csv", "CSV feed"
    UNKNOWN = "unknown", "Not recognised"


class Supplier(models.Model):
    """A supplier with its EDI identity, the formats it speaks and the endpoints we poll."""

    code = models.CharField(max_length=64, unique=True, help_text="Our key for the supplier, e.g. ACME.")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    isa_qualifier = models.CharField(max_length=2, blank=True, default="ZZ", help_text="ISA05/ISA07 qualifier.")
    isa_id = models.CharField(
        max_length=15, blank=True, help_text="The supplier's X12 interchange id (ISA06 of what it sends)."
    )
    gs_id = models.CharField(max_length=15, blank=True, help_text="Application code (GS02); defaults to isa_id.")
    edifact_id = models.CharField(
        max_length=35, blank=True, help_text="The supplier's EDIFACT interchange sender id (UNB02-1, often a GLN)."
    )
    formats = models.JSONField(default=list, blank=True, help_text='Formats it sends, e.g. ["x12", "json"].')
    feed_url = models.URLField(max_length=500, blank=True, help_text="HTTP feed polled for new messages.")
    drop_folder = models.CharField(max_length=500, blank=True, help_text="Folder polled for message files.")
    poll_interval_seconds = models.PositiveIntegerField(default=300)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    feed_etag = models.CharField(max_length=200, blank=True, help_text="ETag of the last feed response stored.")
    next_isa_control = models.PositiveBigIntegerField(default=1)
    next_gs_control = models.PositiveBigIntegerField(default=1)
    next_st_control = models.PositiveBigIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="supplier_code_not_blank"),
            models.UniqueConstraint(fields=["isa_id"], condition=~Q(isa_id=""), name="supplier_isa_id_unique"),
            models.UniqueConstraint(
                fields=["edifact_id"], condition=~Q(edifact_id=""), name="supplier_edifact_id_unique"
            ),
            models.CheckConstraint(condition=Q(poll_interval_seconds__gte=10), name="supplier_poll_interval_min"),
            models.CheckConstraint(
                condition=Q(next_isa_control__gte=1, next_gs_control__gte=1, next_st_control__gte=1),
                name="supplier_control_numbers_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class SupplierItem(models.Model):
    """The supplier's part number for one of our SKUs (and how many base units its pack holds)."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="items")
    supplier_part = models.CharField(max_length=64)
    sku = models.CharField(max_length=64, db_index=True)
    pack_size = models.PositiveIntegerField(default=1, help_text="Base units in one supplier pack (CA, BX, ...).")
    lead_time_days = models.PositiveIntegerField(default=7)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["supplier_id", "supplier_part"]
        constraints = [
            models.UniqueConstraint(fields=["supplier", "supplier_part"], name="supplier_item_part_unique"),
            models.CheckConstraint(condition=Q(pack_size__gte=1), name="supplier_item_pack_size_positive"),
            models.CheckConstraint(condition=~Q(supplier_part=""), name="supplier_item_part_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier_id}:{self.supplier_part} -> {self.sku}"


# --- Purchase orders ----------------------------------------------------------------------------


class PurchaseOrderStatus(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    SENT = "SENT", "Sent"
    ACKNOWLEDGED = "ACKNOWLEDGED", "Acknowledged"
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED", "Partially received"
    RECEIVED = "RECEIVED", "Received"
    CLOSED = "CLOSED", "Closed"
    CANCELLED = "CANCELLED", "Cancelled"


PO = PurchaseOrderStatus
OPEN_PO_STATUSES = (PO.SENT, PO.ACKNOWLEDGED, PO.PARTIALLY_RECEIVED)
RECEIVABLE = [PO.SENT, PO.ACKNOWLEDGED, PO.PARTIALLY_RECEIVED]


class PurchaseOrder(FSMModelMixin, models.Model):
    """An order to a supplier. Transitions do no I/O; `suppliers.services` runs them and appends events."""

    number = models.CharField(max_length=64, unique=True)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="purchase_orders")
    destination = models.CharField(max_length=32, help_text="Location code where the goods are delivered.")
    status = FSMField(default=PO.DRAFT, choices=PO.choices, protected=True, db_index=True)
    currency = models.CharField(max_length=3, default="USD")
    requested_date = models.DateField(null=True, blank=True, help_text="Delivery date we asked for.")
    source = models.CharField(max_length=32, default="api", help_text="api, replenishment, admin, ...")
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=~Q(number=""), name="purchase_order_number_not_blank")]
        indexes = [models.Index(fields=["supplier", "status"], name="po_supplier_status")]

    def __str__(self) -> str:
        return f"PO {self.number} ({self.status})"

    @property
    def stream(self) -> str:
        return f"purchase-order-{self.number}"

    @transition(field=status, source=PO.DRAFT, target=PO.SENT)
    def mark_sent(self) -> None:
        self.sent_at = timezone.now()

    @transition(field=status, source=[PO.SENT, PO.ACKNOWLEDGED], target=PO.ACKNOWLEDGED)
    def mark_acknowledged(self) -> None:
        self.acknowledged_at = self.acknowledged_at or timezone.now()

    @transition(field=status, source=RECEIVABLE, target=PO.PARTIALLY_RECEIVED)
    def mark_partially_received(self) -> None:
        pass

    @transition(field=status, source=RECEIVABLE, target=PO.RECEIVED)
    def mark_received(self) -> None:
        self.received_at = timezone.now()

    @transition(field=status, source=[PO.PARTIALLY_RECEIVED, PO.RECEIVED, PO.ACKNOWLEDGED], target=PO.CLOSED)
    def mark_closed(self) -> None:
        self.closed_at = timezone.now()

    @transition(field=status, source=[PO.DRAFT, PO.SENT, PO.ACKNOWLEDGED], target=PO.CANCELLED)
    def mark_cancelled(self) -> None:
        self.closed_at = timezone.now()


class AckStatus(models.TextChoices):
    PENDING = "pending", "Not acknowledged yet"
    ACCEPTED = "accepted", "Accepted"
    CHANGED = "changed", "Accepted with changes"
    REJECTED = "rejected", "Rejected"


class PurchaseOrderLine(models.Model):
    """One SKU on a purchase order, with what the supplier confirmed, shipped, we received and were invoiced."""

    # No index of its own: the (purchase_order, line_no) UNIQUE constraint serves lookups by order.
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.CASCADE, related_name="lines", db_index=False)
    line_no = models.PositiveIntegerField()
    sku = models.CharField(max_length=64)
    supplier_part = models.CharField(max_length=64, blank=True)
    qty = models.PositiveIntegerField(help_text="Ordered, in base units.")
    unit_price = models.DecimalField(max_digits=14, decimal_places=4)
    ack_status = models.CharField(max_length=16, choices=AckStatus.choices, default=AckStatus.PENDING)
    ack_code = models.CharField(max_length=4, blank=True, help_text="The supplier's ACK01 code, e.g. IA, IR.")
    qty_confirmed = models.PositiveIntegerField(null=True, blank=True)
    confirmed_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    expected_date = models.DateField(null=True, blank=True)
    qty_shipped = models.PositiveIntegerField(default=0)
    qty_received = models.PositiveIntegerField(default=0)
    qty_invoiced = models.PositiveIntegerField(default=0)
    invoiced_amount = models.DecimalField(max_digits=16, decimal_places=4, default=0)

    class Meta:
        ordering = ["purchase_order_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "line_no"], name="po_line_number_unique"),
            models.CheckConstraint(condition=Q(qty__gte=1), name="po_line_qty_positive"),
            models.CheckConstraint(condition=Q(line_no__gte=1), name="po_line_no_positive"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="po_line_price_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_order_id}/{self.line_no} {self.qty} x {self.sku}"

    @property
    def inbound_reference(self) -> str:
        """The inventory inbound-supply reference of this line (issue 6: PO-<number>/<line_no>)."""
        return f"PO-{self.purchase_order.number}/{self.line_no}"

    @property
    def qty_expected(self) -> int:
        """What we still expect to arrive: the confirmed quantity (or the ordered one before any ack)."""
        target = self.qty if self.qty_confirmed is None else self.qty_confirmed
        return max(target - self.qty_received, 0)

    @property
    def is_complete(self) -> bool:
        target = self.qty if self.qty_confirmed is None else self.qty_confirmed
        return self.qty_received >= target


class ShipNotice(models.Model):
    """An advance ship notice (856 or JSON/CSV ASN) as applied: what is on its way for which PO lines."""

    # No index of its own: the (supplier, number) UNIQUE constraint serves lookups by supplier.
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="ship_notices", db_index=False)
    number = models.CharField(max_length=64, help_text="The supplier's shipment id (BSN02).")
    message = models.ForeignKey("InboundMessage", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    shipped_on = models.DateField(null=True, blank=True)
    expected_on = models.DateField()
    carrier = models.CharField(max_length=64, blank=True)
    bill_of_lading = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["supplier", "number"], name="ship_notice_number_unique")]

    def __str__(self) -> str:
        return f"ASN {self.number}"


class ShipNoticeLine(models.Model):
    """One item of a ship notice, tied to the purchase order line it delivers.

    While on its way it is inbound supply of its own (`inbound_reference`), moved out of the PO
    line's supply, so planners see the shipped part at the ship notice's date and the rest at the
    date the supplier confirmed for the order.
    """

    # No index of its own: the (notice, line_no) UNIQUE constraint serves lookups by notice.
    notice = models.ForeignKey(ShipNotice, on_delete=models.CASCADE, related_name="lines", db_index=False)
    line_no = models.PositiveIntegerField()
    po_line = models.ForeignKey(PurchaseOrderLine, on_delete=models.PROTECT, related_name="shipped")
    sku = models.CharField(max_length=64)
    qty = models.PositiveIntegerField()
    qty_received = models.PositiveIntegerField(default=0)
    pack = models.CharField(max_length=40, blank=True, help_text="Carton label (SSCC) when given.")

    class Meta:
        ordering = ["notice_id", "line_no"]
        constraints = [
            models.CheckConstraint(condition=Q(qty__gte=1), name="ship_notice_line_qty_positive"),
            models.UniqueConstraint(fields=["notice", "line_no"], name="ship_notice_line_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.notice_id}/{self.line_no} {self.qty} x {self.sku}"

    @property
    def inbound_reference(self) -> str:
        return f"ASN-{self.notice.supplier.code}-{self.notice.number}/{self.line_no}"


class MatchStatus(models.TextChoices):
    MATCHED = "matched", "Matched"
    MISMATCH = "mismatch", "Mismatch"


class SupplierInvoice(models.Model):
    """An invoice as applied, with the three-way match (PO vs received vs invoiced) it got."""

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=64)
    purchase_order = models.ForeignKey(PurchaseOrder, on_delete=models.PROTECT, related_name="invoices")
    message = models.ForeignKey("InboundMessage", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    invoice_date = models.DateField()
    total = models.DecimalField(max_digits=16, decimal_places=4)
    match_status = models.CharField(max_length=16, choices=MatchStatus.choices)
    match = models.JSONField(default=dict, help_text="Per line: ordered, received, invoiced, prices, findings.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["supplier", "number"], name="supplier_invoice_number_unique")]

    def __str__(self) -> str:
        return f"Invoice {self.number} ({self.match_status})"


# --- Messages ----------------------------------------------------------------------------------


class MessageSource(models.TextChoices):
    API = "api", "API"
    HTTP_POLL = "http_poll", "HTTP feed poll"
    FOLDER = "folder", "Drop folder"
    ADMIN = "admin", "Admin upload"
    AS2 = "as2", "AS2 (partner transport)"
    SFTP = "sftp", "SFTP pull (partner transport)"


class InboundStatus(models.TextChoices):
    RECEIVED = "RECEIVED", "Received"
    APPLIED = "APPLIED", "Applied"
    QUARANTINED = "QUARANTINED", "Quarantined"
    DUPLICATE = "DUPLICATE", "Duplicate"


IN = InboundStatus
PROCESSABLE = [IN.RECEIVED, IN.QUARANTINED]


class InboundMessage(FSMModelMixin, models.Model):
    """A message exactly as a supplier sent it, and what processing made of it.

    `body` is never changed after it is stored (the services never write it again); `sha256` and
    `size` describe it. `errors` is a list of {code, message, segment, element, value, path}.
    """

    body = models.BinaryField(editable=False)
    # PostgreSQL's LIKE index of it is dropped (migration 0007): checksums are matched exactly.
    sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    size = models.PositiveIntegerField(editable=False)
    source = models.CharField(max_length=16, choices=MessageSource.choices)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, null=True, blank=True, related_name="messages")
    format = models.CharField(max_length=16, choices=MessageFormat.choices, default=MessageFormat.UNKNOWN)
    content_type = models.CharField(max_length=200, blank=True)
    filename = models.CharField(max_length=500, blank=True, help_text="File or URL it came from, if any.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Indexed by (status, received_at) in Meta, which serves lookups by status alone.
    status = FSMField(default=IN.RECEIVED, choices=IN.choices, protected=True)
    errors = models.JSONField(default=list, blank=True)
    document_types = models.JSONField(default=list, blank=True, help_text='What it contained, e.g. ["856"].')
    interchange_sender = models.CharField(max_length=40, blank=True)
    interchange_control = models.CharField(max_length=20, blank=True)
    duplicate_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    attempts = models.PositiveIntegerField(default=0, help_text="Times processing ran.")
    processed_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="What applying it did.")
    profile_versions = models.JSONField(
        default=dict, blank=True, help_text='Supplier profile versions it was last processed under, e.g. {"856": 3}.'
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "received_at"], name="inbound_status_received")]

    def __str__(self) -> str:
        return f"message {self.pk} ({self.format}, {self.status})"

    @property
    def stream(self) -> str:
        return f"inbound-message-{self.pk}"

    @staticmethod
    def checksum(body: bytes) -> str:
        return hashlib.sha256(body).hexdigest()

    @transition(field=status, source=PROCESSABLE, target=IN.APPLIED)
    def mark_applied(self) -> None:
        self.errors = []

    @transition(field=status, source=PROCESSABLE, target=IN.QUARANTINED)
    def mark_quarantined(self) -> None:
        pass

    @transition(field=status, source=PROCESSABLE, target=IN.DUPLICATE)
    def mark_duplicate(self) -> None:
        self.errors = []


class MessageClaim(models.Model):
    """One row per identity a message can have ("sha256:<hex>", "isa:<sender>:<ISA13>", "doc:..."):
    the UNIQUE key is what makes a duplicate lose, even when both copies are processed at once."""

    # PostgreSQL's LIKE index of it is dropped (migration 0007): keys are never searched by prefix.
    key = models.CharField(max_length=200, unique=True)
    message = models.ForeignKey(InboundMessage, on_delete=models.CASCADE, related_name="claims")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.key} -> {self.message_id}"


class OutboundKind(models.TextChoices):
    PO_850 = "850", "850 purchase order"
    ACK_997 = "997", "997 functional acknowledgement"
    ADVICE_824 = "824", "824 application advice"
    ACK_TA1 = "TA1", "TA1 interchange acknowledgement"
    CONTRL = "CONTRL", "EDIFACT CONTRL syntax and service report"


class OutboundStatus(models.TextChoices):
    PREPARED = "prepared", "Prepared"
    ACCEPTED = "accepted", "Accepted by the supplier (997)"
    REJECTED = "rejected", "Rejected by the supplier (997)"


class OutboundMessage(models.Model):
    """A message we produced for a supplier (X12 850, 997, 824, TA1; EDIFACT CONTRL), with its control numbers
    (for a CONTRL: UNB05 in `isa_control`, UNH01 in `st_control`)."""

    # No index of its own: the (supplier, kind, gs_control) index in Meta serves lookups by supplier.
    supplier = models.ForeignKey(
        Supplier, on_delete=models.PROTECT, null=True, blank=True, related_name="outbound", db_index=False
    )
    kind = models.CharField(max_length=8, choices=OutboundKind.choices)
    body = models.BinaryField(editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    isa_control = models.CharField(max_length=9)
    gs_control = models.CharField(max_length=9)
    st_control = models.CharField(max_length=9)
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="outbound"
    )
    inbound_message = models.ForeignKey(
        InboundMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="responses"
    )
    status = models.CharField(max_length=16, choices=OutboundStatus.choices, default=OutboundStatus.PREPARED)
    acknowledged_by = models.ForeignKey(
        InboundMessage, on_delete=models.PROTECT, null=True, blank=True, related_name="acknowledged"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["supplier", "kind", "gs_control"], name="outbound_supplier_kind_gs")]

    def __str__(self) -> str:
        return f"{self.kind} ISA {self.isa_control} ({self.status})"


class PollChannel(models.TextChoices):
    HTTP = "http", "HTTP feed"
    FOLDER = "folder", "Drop folder"
    SFTP = "sftp", "SFTP pull (partner transport)"


class PollStatus(models.TextChoices):
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed (dead letter)"


class PollAttempt(models.Model):
    """One poll of a supplier endpoint. FAILED rows are the dead letters the dashboard shows."""

    supplier = models.ForeignKey(Supplier, on_delete=models.CASCADE, related_name="poll_attempts")
    channel = models.CharField(max_length=8, choices=PollChannel.choices)
    status = models.CharField(max_length=16, choices=PollStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    tries = models.PositiveIntegerField(default=1, help_text="HTTP calls made, retries included.")
    messages_stored = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "finished_at"], name="poll_attempt_status_finished")]

    def __str__(self) -> str:
        return f"{self.channel} poll of {self.supplier_id}: {self.status}"


# Profile versions and bulk reprocess runs live beside their services (suppliers/profiles/); importing
# them here registers them with the suppliers app.
from suppliers.profiles.models import (  # noqa: E402, F401
    ReprocessAttempt,
    ReprocessOutcome,
    ReprocessRun,
    ReprocessRunStatus,
    SupplierProfileVersion,
)
