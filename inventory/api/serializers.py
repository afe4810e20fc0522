"""Input and output shapes of the inventory API (DESIGN.md §9: these names are the contract).

Input serializers bound every number and string to what the tables hold, so an out-of-range value
is a 400 naming the field rather than a database error. Output serializers render plain objects
(model rows, selector dataclasses, dicts) without touching the database.
"""

from __future__ import annotations

from rest_framework import serializers

from inventory.models import LocationKind
from inventory.services import ADJUSTMENT_REASONS

# Quantities fit a PostgreSQL integer (order lines store them there); far beyond any real movement.
MAX_QTY = 2_147_483_647
SKU_MAX = 64
LOCATION_MAX = 32
REFERENCE_MAX = 200


def key_is_plausible(value: str, max_length: int) -> bool:
    """Whether a key taken from a URL path could name a row at all (no NUL byte, not too long).

    PostgreSQL refuses NUL characters outright, so such a key must answer 404 before any query.
    """
    return 0 < len(value) <= max_length and "\x00" not in value


# --- Master data ------------------------------------------------------------------------------


class ItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX)
    name = serializers.CharField(max_length=200)
    unit = serializers.CharField(max_length=16, help_text="Base unit; quantities are whole base units.")
    pack_size = serializers.IntegerField(min_value=1, max_value=MAX_QTY, help_text="Order multiple.")
    active = serializers.BooleanField(help_text="False once deleted (deactivated); history stays.")
    reorder_point = serializers.IntegerField(min_value=0, max_value=MAX_QTY, allow_null=True)
    safety_stock = serializers.IntegerField(min_value=0, max_value=MAX_QTY)
    min_qty = serializers.IntegerField(min_value=0, max_value=MAX_QTY)
    max_qty = serializers.IntegerField(min_value=0, max_value=MAX_QTY, allow_null=True)
    lead_time_days = serializers.IntegerField(min_value=0, max_value=3650)


class ItemInputSerializer(serializers.Serializer):
    """The item's fields for PUT (create or replace: omitted fields take their defaults) and PATCH."""

    name = serializers.CharField(max_length=200)
    unit = serializers.CharField(max_length=16, default="EA")
    pack_size = serializers.IntegerField(min_value=1, max_value=MAX_QTY, default=1)
    active = serializers.BooleanField(default=True)
    reorder_point = serializers.IntegerField(min_value=0, max_value=MAX_QTY, allow_null=True, default=None)
    safety_stock = serializers.IntegerField(min_value=0, max_value=MAX_QTY, default=0)
    min_qty = serializers.IntegerField(min_value=0, max_value=MAX_QTY, default=0)
    max_qty = serializers.IntegerField(min_value=0, max_value=MAX_QTY, allow_null=True, default=None)
    lead_time_days = serializers.IntegerField(min_value=0, max_value=3650, default=7)


class ItemCreateSerializer(ItemInputSerializer):
    sku = serializers.CharField(
        max_length=SKU_MAX, trim_whitespace=False, help_text="Unique key; no surrounding spaces, no slash."
    )

    def validate_sku(self, value: str) -> str:
        if "/" in value:
            raise serializers.ValidationError("A SKU cannot contain '/': it is part of the item's URL.")
        return value


class ItemQuerySerializer(serializers.Serializer):
    search = serializers.CharField(max_length=100, required=False, help_text="Part of the SKU or name.")


class LocationSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=LOCATION_MAX)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=LocationKind.choices)
    active = serializers.BooleanField(help_text="False once deleted (deactivated).")
    allocation_rank = serializers.IntegerField(
        min_value=0, max_value=MAX_QTY, help_text="Allocation prefers lower ranks."
    )


class LocationInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=LocationKind.choices, default=LocationKind.WAREHOUSE)
    active = serializers.BooleanField(default=True)
    allocation_rank = serializers.IntegerField(min_value=0, max_value=MAX_QTY, default=100)


class LocationCreateSerializer(LocationInputSerializer):
    code = serializers.CharField(
        max_length=LOCATION_MAX, trim_whitespace=False, help_text="Unique key; no surrounding spaces, no slash."
    )

    def validate_code(self, value: str) -> str:
        if "/" in value:
            raise serializers.ValidationError("A location code cannot contain '/': it is part of the URL.")
        return value


# --- Balances and ATP -------------------------------------------------------------------------


class BalanceQuerySerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX, required=False, help_text="Only this SKU.")
    location = serializers.CharField(max_length=LOCATION_MAX, required=False, help_text="Only this location.")
    as_of = serializers.DateTimeField(
        required=False, help_text="ISO 8601 time: balances as they were then (by effective time), from the ledger."
    )
    known_at = serializers.DateTimeField(
        required=False,
        help_text="With `as_of`: count only movements recorded by this time (what we believed then).",
    )

    def validate(self, attrs: dict) -> dict:
        if "known_at" in attrs and "as_of" not in attrs:
            raise serializers.ValidationError({"known_at": ["known_at needs as_of."]})
        return attrs


class BalanceSerializer(serializers.Serializer):
    sku = serializers.CharField()
    location = serializers.CharField()
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField(help_text="on_hand - reserved.")
    inbound = serializers.IntegerField(help_text="Expected from suppliers and transfers.")


class AtpQuerySerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX)
    qty = serializers.IntegerField(min_value=1, max_value=MAX_QTY)


class AtpLocationSerializer(serializers.Serializer):
    location = serializers.CharField()
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()


class AtpInboundSerializer(serializers.Serializer):
    location = serializers.CharField()
    qty = serializers.IntegerField()
    expected_date = serializers.DateField(help_text="Overdue supply counts from today.")
    reference = serializers.CharField()
    source = serializers.CharField()


class AtpPromiseSerializer(serializers.Serializer):
    date = serializers.DateField()
    qty = serializers.IntegerField(help_text="Promisable by this date, at most the requested quantity.")
    cumulative = serializers.IntegerField(help_text="All supply available by this date.")


class AtpSerializer(serializers.Serializer):
    sku = serializers.CharField()
    requested = serializers.IntegerField()
    available_now = serializers.IntegerField()
    can_promise_now = serializers.BooleanField()
    complete_by = serializers.DateField(allow_null=True, help_text="When the requested quantity is covered.")
    shortfall = serializers.IntegerField(help_text="Not covered by stock or any known inbound supply.")
    locations = AtpLocationSerializer(many=True)
    inbound = AtpInboundSerializer(many=True)
    promise = AtpPromiseSerializer(many=True)


# --- Movements --------------------------------------------------------------------------------


class _MovementInput(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX)
    qty = serializers.IntegerField(min_value=1, max_value=MAX_QTY, help_text="Whole base units.")
    reference = serializers.CharField(max_length=REFERENCE_MAX, allow_blank=True, default="")
    effective_at = serializers.DateTimeField(
        required=False, help_text="When it happened (default now); may be in the past, not in the future."
    )


class ReceiptInputSerializer(_MovementInput):
    location = serializers.CharField(max_length=LOCATION_MAX)
    inbound_reference = serializers.CharField(
        max_length=REFERENCE_MAX,
        required=False,
        allow_blank=True,
        help_text="The inbound supply this receipt fulfils (e.g. PO-1001/1); it shrinks by what arrived.",
    )


class AdjustmentInputSerializer(_MovementInput):
    location = serializers.CharField(max_length=LOCATION_MAX)
    qty = serializers.IntegerField(
        min_value=-MAX_QTY, max_value=MAX_QTY, help_text="Signed change of on-hand units; not zero."
    )
    reason = serializers.ChoiceField(choices=ADJUSTMENT_REASONS, help_text="Reason code.")
    note = serializers.CharField(max_length=1000, allow_blank=True, default="")

    def validate_qty(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("An adjustment cannot be zero.")
        return value


class TransferInputSerializer(_MovementInput):
    from_location = serializers.CharField(max_length=LOCATION_MAX)
    to_location = serializers.CharField(max_length=LOCATION_MAX)
    reference = serializers.CharField(max_length=REFERENCE_MAX, help_text="The transfer document; required.")

    def validate(self, attrs: dict) -> dict:
        if attrs["from_location"] == attrs["to_location"]:
            raise serializers.ValidationError({"to_location": ["A transfer needs two different locations."]})
        return attrs


class EventRefSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="Position in the global event log.")
    stream = serializers.CharField()
    type = serializers.CharField()


class StockLevelSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    inbound = serializers.IntegerField()


class ReceiptSerializer(serializers.Serializer):
    event = EventRefSerializer()
    sku = serializers.CharField()
    location = serializers.CharField()
    qty = serializers.IntegerField()
    reference = serializers.CharField(allow_blank=True)
    inbound_reference = serializers.CharField(allow_blank=True)
    inbound_received = serializers.IntegerField(help_text="How much of the inbound supply this receipt closed.")
    effective_at = serializers.DateTimeField()
    balance = StockLevelSerializer(help_text="The location's balance after the receipt.")


class AdjustmentSerializer(serializers.Serializer):
    event = EventRefSerializer()
    sku = serializers.CharField()
    location = serializers.CharField()
    qty = serializers.IntegerField()
    reason = serializers.CharField()
    reference = serializers.CharField(allow_blank=True)
    note = serializers.CharField(allow_blank=True)
    effective_at = serializers.DateTimeField()
    balance = StockLevelSerializer(help_text="The location's balance after the adjustment.")


class TransferSerializer(serializers.Serializer):
    events = EventRefSerializer(many=True, help_text="TransferDispatched, then TransferReceived.")
    sku = serializers.CharField()
    from_location = serializers.CharField()
    to_location = serializers.CharField()
    qty = serializers.IntegerField()
    reference = serializers.CharField()
    effective_at = serializers.DateTimeField()
    from_balance = StockLevelSerializer()
    to_balance = StockLevelSerializer()
