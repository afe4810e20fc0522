"""Input and output shapes of the orders API (DESIGN.md §9: these names are the contract)."""

from __future__ import annotations

from rest_framework import serializers

from inventory.api.serializers import MAX_QTY, SKU_MAX
from orders.models import OrderStatus, WorkflowStep
from scm.api.serializers import EventSerializer

CUSTOMER_MAX = 32
MAX_LINES = 500


# --- Customers --------------------------------------------------------------------------------


class CustomerSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    active = serializers.BooleanField(help_text="False once deleted (deactivated); orders are refused then.")


class CustomerInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    active = serializers.BooleanField(default=True)


class CustomerCreateSerializer(CustomerInputSerializer):
    code = serializers.CharField(
        max_length=CUSTOMER_MAX, trim_whitespace=False, help_text="Unique key; no surrounding spaces, no slash."
    )

    def validate_code(self, value: str) -> str:
        if "/" in value:
            raise serializers.ValidationError("A customer code cannot contain '/': it is part of the URL.")
        return value


# --- Orders: input ----------------------------------------------------------------------------


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=SKU_MAX)
    qty = serializers.IntegerField(min_value=1, max_value=MAX_QTY, help_text="Whole base units.")


class OrderCreateSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=CUSTOMER_MAX, help_text="The customer's code.")
    external_id = serializers.CharField(
        max_length=100, help_text="The order's number in the sending system; unique per customer."
    )
    priority = serializers.IntegerField(min_value=1, max_value=9, default=5, help_text="1 is the most urgent.")
    requested_date = serializers.DateField(required=False, allow_null=True, default=None)
    ship_to = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    lines = OrderLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES, help_text="One line per SKU.")


class OrderQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False, help_text="Only orders in it.")
    customer = serializers.CharField(max_length=CUSTOMER_MAX, required=False, help_text="Only this customer's.")


class OrderCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Why; recorded in the order's history.")


# --- Orders: output ---------------------------------------------------------------------------


class AllocationSerializer(serializers.Serializer):
    location = serializers.CharField()
    qty = serializers.SerializerMethodField(help_text="Units allocated here: still reserved plus shipped.")
    reserved = serializers.IntegerField()
    shipped = serializers.IntegerField()

    def get_qty(self, allocation) -> int:
        return allocation.reserved + allocation.shipped


class OrderLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    sku = serializers.CharField()
    qty = serializers.IntegerField(source="ordered", help_text="Ordered.")
    reserved = serializers.IntegerField(help_text="Held now, not yet shipped.")
    shipped = serializers.IntegerField()
    delivered = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    backordered = serializers.IntegerField(help_text="Waiting for stock.")
    allocations = AllocationSerializer(many=True, help_text="Where the reservations came from.")


class WorkflowSerializer(serializers.Serializer):
    step = serializers.ChoiceField(choices=WorkflowStep.choices)
    attempts = serializers.IntegerField(help_text="Tries of the current step.")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    waiting_for = serializers.CharField(
        allow_blank=True,
        help_text='The missing configuration the step waits for (e.g. "no carrier configured"); "" when not waiting.',
    )
    waiting_since = serializers.DateTimeField(allow_null=True, help_text="When it started waiting.")


class OrderSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=OrderStatus.choices, help_text="Read-only; change it by actions.")
    status_reason = serializers.CharField(allow_blank=True)
    customer = serializers.CharField(source="customer.code")
    external_id = serializers.CharField()
    priority = serializers.IntegerField()
    requested_date = serializers.DateField(allow_null=True)
    ship_to = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    workflow = WorkflowSerializer(allow_null=True, help_text="The fulfillment workflow's state.")


class OrderSerializer(OrderSummarySerializer):
    lines = OrderLineSerializer(many=True)


class OrderHistoryEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField()
    type = serializers.CharField()
    when = serializers.DateTimeField()
    who = serializers.CharField()
    what = serializers.CharField()
    why = serializers.CharField(allow_blank=True)
    correlation_id = serializers.CharField(allow_blank=True)


class OrderEventsSerializer(serializers.Serializer):
    order = serializers.IntegerField(help_text="The order's id.")
    events = EventSerializer(many=True, help_text="The order's stream, oldest first.")
    history = OrderHistoryEntrySerializer(many=True, help_text="The same events as who, what, when and why.")
