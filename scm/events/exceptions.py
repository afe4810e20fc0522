"""Errors raised by the event store. Each carries the data a caller needs to react."""

from __future__ import annotations


class EventStoreError(Exception):
    code = "event_store_error"


class ConcurrencyError(EventStoreError):
    """The stream moved on since the caller read it: its expected version is stale."""

    code = "stale_stream_version"

    def __init__(self, *, stream: str, expected_version: int, actual_version: int) -> None:
        self.stream = stream
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream!r} is at version {actual_version}, but the append expected version {expected_version}"
        )


class EventValidationError(EventStoreError):
    """A payload does not match the JSON Schema of its event type."""

    code = "invalid_event_payload"

    def __init__(self, *, event_type: str, field: str, message: str) -> None:
        self.event_type = event_type
        self.field = field
        super().__init__(f"{event_type}: {field}: {message}")


class UnknownEventType(EventStoreError):
    code = "unknown_event_type"

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(f"no JSON Schema is registered for event type {event_type!r}")


class AppendOnlyViolation(EventStoreError):
    """Someone tried to change or remove a recorded event. Corrections are new events."""

    code = "append_only"
