"""Input and output serializers of the suppliers API. Statuses are read-only; transitions are POSTs."""

from __future__ import annotations

from rest_framework import serializers

from scm import outbound
from suppliers.drop_folders import drop_folder_resolve
from suppliers.exceptions import DropFolderRefused
from suppliers.models import (
    InboundMessage,
    OutboundMessage,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierItem,
)

CODE_MAX = 64


# --- Suppliers -----------------------------------------------------------------------------------


class SupplierSerializer(serializers.ModelSerializer):
    feed_url = serializers.CharField(help_text="HTTP feed polled for new messages; empty when none.")
    drop_folder = serializers.CharField(help_text="Folder polled for message files; empty when none.")

    class Meta:
        model = Supplier
        fields = [
            "code",
            "name",
            "active",
            "isa_qualifier",
            "isa_id",
            "gs_id",
            "edifact_id",
            "formats",
            "feed_url",
            "drop_folder",
            "poll_interval_seconds",
            "last_polled_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SupplierInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    active = serializers.BooleanField(default=True)
    isa_qualifier = serializers.CharField(max_length=2, allow_blank=True, default="ZZ")
    isa_id = serializers.CharField(max_length=15, allow_blank=True, default="")
    gs_id = serializers.CharField(max_length=15, allow_blank=True, default="")
    edifact_id = serializers.CharField(max_length=35, allow_blank=True, default="")
    formats = serializers.ListField(
        child=serializers.ChoiceField(choices=["x12", "edifact", "json", "csv"]), default=list, max_length=4
    )
    feed_url = serializers.URLField(max_length=500, allow_blank=True, default="")
    drop_folder = serializers.CharField(max_length=500, allow_blank=True, default="")
    poll_interval_seconds = serializers.IntegerField(min_value=10, max_value=86400 * 7, default=300)

    def validate_feed_url(self, value: str) -> str:
        """The outbound policy, names resolved (the service repeats the static part)."""
        if value:
            try:
                outbound.check_url(value, what="feed_url")
            except outbound.AddressRefused as exc:
                raise serializers.ValidationError(exc.message) from None
        return value

    def validate_drop_folder(self, value: str) -> str:
        if value:
            try:
                drop_folder_resolve(value)
            except DropFolderRefused as exc:
                raise serializers.ValidationError(exc.message) from None
        return value


class SupplierCreateSerializer(SupplierInputSerializer):
    code = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=CODE_MAX)


# --- Supplier items ------------------------------------------------------------------------------


class SupplierItemSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.code")

    class Meta:
        model = SupplierItem
        fields = ["id", "supplier", "supplier_part", "sku", "pack_size", "lead_time_days", "created_at", "updated_at"]
        read_only_fields = fields


class SupplierItemInputSerializer(serializers.Serializer):
    supplier = serializers.CharField(max_length=CODE_MAX)
    supplier_part = serializers.CharField(max_length=64)
    sku = serializers.CharField(max_length=64)
    pack_size = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    lead_time_days = serializers.IntegerField(min_value=0, max_value=3650, default=7)


class SupplierItemQuerySerializer(serializers.Serializer):
    supplier = serializers.CharField(max_length=CODE_MAX, required=False)
    sku = serializers.CharField(max_length=64, required=False)


# --- Purchase orders -----------------------------------------------------------------------------


class PurchaseOrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = PurchaseOrderLine
        fields = [
            "line_no",
            "sku",
            "supplier_part",
            "qty",
            "unit_price",
            "ack_status",
            "ack_code",
            "qty_confirmed",
            "confirmed_price",
            "expected_date",
            "qty_shipped",
            "qty_received",
            "qty_invoiced",
        ]
        read_only_fields = fields


class OutboundSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundMessage
        fields = ["id", "kind", "isa_control", "gs_control", "st_control", "status", "sha256", "created_at"]
        read_only_fields = fields


class PurchaseOrderSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.code")
    lines = PurchaseOrderLineSerializer(many=True)
    outbound = OutboundSummarySerializer(many=True)

    class Meta:
        model = PurchaseOrder
        fields = [
            "id",
            "number",
            "supplier",
            "destination",
            "status",
            "currency",
            "requested_date",
            "source",
            "note",
            "created_at",
            "sent_at",
            "acknowledged_at",
            "received_at",
            "closed_at",
            "lines",
            "outbound",
        ]
        read_only_fields = fields


class PurchaseOrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    qty = serializers.IntegerField(min_value=1, max_value=10**9)
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=4, min_value=0)


class PurchaseOrderCreateSerializer(serializers.Serializer):
    number = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=64)
    supplier = serializers.CharField(max_length=CODE_MAX)
    destination = serializers.CharField(max_length=32)
    requested_date = serializers.DateField(required=False, allow_null=True)
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD")
    note = serializers.CharField(allow_blank=True, default="", max_length=2000)
    lines = PurchaseOrderLineInputSerializer(many=True, allow_empty=False, max_length=1000)


class PurchaseOrderQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PurchaseOrder._meta.get_field("status").choices, required=False)
    supplier = serializers.CharField(max_length=CODE_MAX, required=False)


class ReceiptLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField(min_value=1)
    qty = serializers.IntegerField(min_value=1, max_value=10**9)


class PurchaseOrderReceiveSerializer(serializers.Serializer):
    lines = ReceiptLineSerializer(many=True, required=False, allow_empty=False, max_length=1000)
    reference = serializers.CharField(max_length=200, allow_blank=True, default="")

    def validate_lines(self, lines):
        numbers = [line["line_no"] for line in lines]
        if len(numbers) != len(set(numbers)):
            raise serializers.ValidationError("Each line_no may appear once.")
        return lines


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, allow_blank=True, default="")


# --- Inbound messages ----------------------------------------------------------------------------


class InboundErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    kind = serializers.CharField(required=False)
    segment = serializers.CharField(allow_null=True, required=False)
    element = serializers.CharField(allow_null=True, required=False)
    value = serializers.CharField(allow_null=True, required=False)
    path = serializers.CharField(allow_null=True, required=False)


class InboundMessageSerializer(serializers.ModelSerializer):
    supplier = serializers.CharField(source="supplier.code", allow_null=True, default=None)
    errors = InboundErrorSerializer(many=True)
    responses = OutboundSummarySerializer(many=True)
    duplicate_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = InboundMessage
        fields = [
            "id",
            "status",
            "format",
            "source",
            "supplier",
            "sha256",
            "size",
            "content_type",
            "filename",
            "received_at",
            "processed_at",
            "attempts",
            "document_types",
            "interchange_sender",
            "interchange_control",
            "duplicate_of",
            "errors",
            "summary",
            "profile_versions",
            "responses",
        ]
        read_only_fields = fields


class InboundAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    format = serializers.CharField()
    errors = InboundErrorSerializer(many=True)


class InboundQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=InboundMessage._meta.get_field("status").choices, required=False)
    supplier = serializers.CharField(max_length=CODE_MAX, required=False)
    # Not `format`: DRF reads ?format= to pick a renderer.
    message_format = serializers.ChoiceField(choices=["x12", "json", "csv", "unknown"], required=False)


class InboundPostQuerySerializer(serializers.Serializer):
    supplier = serializers.CharField(max_length=CODE_MAX, required=False)
