"""Input and output shapes of the webhooks API. The secret is write-only: it is never shown again."""

from __future__ import annotations

from django.core.validators import URLValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from scm.events import schemas
from scm.outbound.models import BreakerState
from scm.webhooks.models import DeliveryStatus


def _known_event_type(value: str) -> str:
    if value not in schemas.known_event_types():
        raise serializers.ValidationError(f"Unknown event type: {value}.")
    return value


class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="An http:// or https:// URL that accepts POST.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100, validators=[_known_event_type]),
        required=False,
        default=list,
        max_length=200,
        help_text="Event types to deliver; empty or omitted means every type.",
    )
    secret = serializers.CharField(
        min_length=16,
        max_length=256,
        write_only=True,
        trim_whitespace=False,
        help_text="Shared secret for the X-SCM-Signature HMAC. Write-only.",
    )
    active = serializers.BooleanField(required=False, default=True)


class BreakerSerializer(serializers.Serializer):
    state = serializers.CharField(
        help_text="closed (deliveries go out), open (deliveries wait; none is attempted until "
        "opened_until) or half_open (one probe delivery is out)."
    )
    consecutive_failures = serializers.IntegerField()
    opened_until = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(help_text="The last failure that counted against the breaker.")


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    start_position = serializers.IntegerField(help_text="Events after this log position are delivered.")
    pending_count = serializers.IntegerField(default=0)
    dead_count = serializers.IntegerField(default=0)
    breaker = serializers.SerializerMethodField(help_text="The endpoint's circuit breaker (docs/API.md, Webhooks).")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(BreakerSerializer)
    def get_breaker(self, endpoint) -> dict:
        return {
            "state": getattr(endpoint, "breaker_state", None) or BreakerState.CLOSED,
            "consecutive_failures": getattr(endpoint, "breaker_consecutive_failures", None) or 0,
            "opened_until": getattr(endpoint, "breaker_opened_until", None),
            "last_error": getattr(endpoint, "breaker_last_error", None) or "",
        }


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    event_position = serializers.IntegerField()
    event_id = serializers.UUIDField()
    stream = serializers.CharField()
    event_type = serializers.CharField()
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class WebhookDeliveryQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
