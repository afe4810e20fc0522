from rest_framework import serializers


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class EventSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    event_id = serializers.UUIDField()
    stream = serializers.CharField()
    version = serializers.IntegerField()
    type = serializers.CharField()
    schema_version = serializers.IntegerField()
    payload = serializers.JSONField()
    metadata = serializers.JSONField()
    occurred_at = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()


class EventQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0, max_value=2**63 - 1, default=0, help_text="Return events with a higher position."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=1000, default=100, help_text="At most this many events (1-1000, default 100)."
    )
    stream = serializers.CharField(max_length=200, required=False, help_text="Only this stream, e.g. order-42.")
    type = serializers.CharField(max_length=100, required=False, help_text="Only this event type.")


class EventPageSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next_after = serializers.IntegerField(help_text="Pass as `after` to read the next page.")
