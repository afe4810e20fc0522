"""Input and output shapes of the shipments API. Inputs validate; outputs only render."""

from __future__ import annotations

from rest_framework import serializers

from scm import outbound
from scm.errors import ValidationFailed
from shipments.adapters.carrier_urls import tracking_url_template_check
from shipments.adapters.tracking import MalformedUpdate, parse_aware_datetime
from shipments.models import Carrier, Shipment, ShipmentStatus, TrackingStatus, TrackingUpdate


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that must carry its offset: a time without one is refused, not guessed."""

    def to_internal_value(self, value):
        try:
            return parse_aware_datetime(value, self.field_name)
        except MalformedUpdate as exc:
            raise serializers.ValidationError(exc.reason) from None


# --- Carriers -----------------------------------------------------------------------------------


class CarrierSerializer(serializers.ModelSerializer):
    tracking_feed_url = serializers.CharField(help_text="Feed URL, or empty when the carrier has no feed.")

    class Meta:
        model = Carrier
        fields = [
            "code",
            "name",
            "tracking_url_template",
            "service_levels",
            "transit_days",
            "is_default",
            "active",
            "tracking_feed_url",
            "feed_polled_at",
            "feed_last_error",
        ]
        read_only_fields = fields


class CarrierInputSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$", max_length=32)
    name = serializers.CharField(max_length=200)
    tracking_url_template = serializers.CharField(max_length=500, required=False, allow_blank=True)
    service_levels = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, help_text="First one is the default level."
    )
    transit_days = serializers.IntegerField(min_value=0, max_value=365, required=False)
    is_default = serializers.BooleanField(required=False)
    active = serializers.BooleanField(required=False)
    tracking_feed_url = serializers.URLField(max_length=200, required=False, allow_blank=True)

    def validate_tracking_url_template(self, value: str) -> str:
        try:
            tracking_url_template_check(value)
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None
        return value

    def validate_tracking_feed_url(self, value: str) -> str:
        """The outbound policy, names resolved (the service repeats the static part)."""
        if value:
            try:
                outbound.check_url(value, what="tracking_feed_url")
            except outbound.AddressRefused as exc:
                raise serializers.ValidationError(exc.message) from None
        return value


class CarrierUpdateSerializer(CarrierInputSerializer):
    code = None
    name = serializers.CharField(max_length=200, required=False)


# --- Shipments ----------------------------------------------------------------------------------


class ShipmentLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    qty = serializers.IntegerField()
    holder = serializers.CharField(help_text="Reservation holder the line ships from, e.g. order-42/line-7.")


class ShipmentDelaySerializer(serializers.Serializer):
    cause = serializers.CharField()
    detail = serializers.CharField()
    detected_at = serializers.DateTimeField()


class ShipmentSerializer(serializers.ModelSerializer):
    carrier = serializers.CharField(source="carrier.code")
    tracking_url = serializers.SerializerMethodField()
    lines = ShipmentLineSerializer(many=True)
    delays = ShipmentDelaySerializer(many=True)

    class Meta:
        model = Shipment
        fields = [
            "id",
            "order_ref",
            "transfer_ref",
            "status",
            "from_location",
            "carrier",
            "service_level",
            "tracking_number",
            "tracking_url",
            "promised_date",
            "estimated_arrival",
            "planned_at",
            "departed_at",
            "delivered_at",
            "cancelled_at",
            "cancel_reason",
            "last_update_at",
            "last_note",
            "lines",
            "delays",
        ]
        read_only_fields = fields

    def get_tracking_url(self, shipment: Shipment) -> str:
        return shipment.carrier.tracking_url(shipment.tracking_number)


class ShipmentQuerySerializer(serializers.Serializer):
    order = serializers.CharField(required=False, help_text="Order id (42) or reference (order-42).")
    transfer = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=ShipmentStatus.choices, required=False)
    carrier = serializers.CharField(required=False)
    tracking_number = serializers.CharField(required=False)


class DepartInputSerializer(serializers.Serializer):
    occurred_at = AwareDateTimeField(required=False, help_text="When it left (with offset); now when omitted.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


# --- Tracking updates ---------------------------------------------------------------------------


class TrackingInputSerializer(serializers.Serializer):
    """Documents the body; the shipments tracking parser validates it (same rules everywhere)."""

    status = serializers.ChoiceField(choices=TrackingStatus.choices)
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with a time zone offset; not in the future.")
    note = serializers.CharField(required=False, allow_blank=True)
    estimated_arrival = serializers.DateField(required=False, help_text="A new ETA, when the carrier gives one.")


class CarrierUpdateInputSerializer(TrackingInputSerializer):
    tracking_number = serializers.CharField(max_length=64)
    carrier = serializers.CharField(required=False, max_length=32, help_text="Carrier code; needed when ambiguous.")


class TrackingUpdateSerializer(serializers.ModelSerializer):
    carrier = serializers.CharField(source="carrier_code")
    shipment_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = TrackingUpdate
        fields = [
            "id",
            "shipment_id",
            "source",
            "carrier",
            "tracking_number",
            "status",
            "occurred_at",
            "note",
            "estimated_arrival",
            "received_at",
            "outcome",
            "outcome_detail",
            "event_position",
        ]
        read_only_fields = fields


class TrackingResultSerializer(serializers.Serializer):
    update = TrackingUpdateSerializer()
    shipment = ShipmentSerializer()


# --- Late shipments -----------------------------------------------------------------------------


class LateShipmentSerializer(serializers.Serializer):
    shipment_id = serializers.IntegerField()
    order_ref = serializers.CharField()
    transfer_ref = serializers.CharField()
    status = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    from_location = serializers.CharField()
    promised_date = serializers.DateField(allow_null=True)
    estimated_arrival = serializers.DateField(allow_null=True)
    last_update_at = serializers.DateTimeField(allow_null=True)
    risk = serializers.ChoiceField(choices=["late", "at_risk"])
    reasons = serializers.ListField(child=serializers.CharField())
    detail = serializers.ListField(child=serializers.CharField())
    first_flagged_at = serializers.DateTimeField(allow_null=True)


class LateQuerySerializer(serializers.Serializer):
    include_at_risk = serializers.BooleanField(required=False, default=True)
