"""How one recorded event becomes one NATS message: subject, headers and body.

Subject: `<NATS_SUBJECT_PREFIX>.<category>.<EventType>`, e.g. `scm.events.order.OrderReserved`.
The category is the stream's kind: the stream name without its identifier (`order-42` ->
`order`, `stock-ABC@WH-A` -> `stock`, `purchase-order-PO-7` -> `purchase-order`). Stream names are
`<category>-<id>` and ids may themselves hold hyphens, so categories of more than one word are
listed in MULTI_WORD_CATEGORIES; any other stream's category is its text before the first hyphen.
Both tokens are reduced to characters NATS subjects accept everywhere (letters, digits, `_`, `-`).

Body: the event as JSON, the same fields as `GET /api/v1/events/`.
Headers: `Nats-Msg-Id` (the event id, JetStream de-duplicates on it) and the `Scm-*` headers below,
plus `traceparent` when the event was appended inside a trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from scm.events.store import RecordedEvent

MULTI_WORD_CATEGORIES = ("purchase-order", "inbound-message")

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_POSITION = "Scm-Position"
HEADER_STREAM = "Scm-Stream"
HEADER_VERSION = "Scm-Version"
HEADER_TYPE = "Scm-Event-Type"
HEADER_SCHEMA_VERSION = "Scm-Schema-Version"
HEADER_CORRELATION_ID = "Scm-Correlation-Id"
HEADER_TRACEPARENT = "traceparent"

_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
_LINE_BREAKS = re.compile(r"[\r\n]+")


@dataclass(frozen=True)
class Message:
    subject: str
    body: bytes
    headers: dict[str, str]


def category_of(stream: str) -> str:
    """The stream's kind, as one safe subject token (lower case)."""
    lowered = stream.lower()
    for category in MULTI_WORD_CATEGORIES:
        if lowered == category or lowered.startswith(category + "-"):
            return category
    return token(lowered.split("-", 1)[0])


def token(text: str) -> str:
    """`text` with every character a subject token must not hold replaced by `_` (never empty)."""
    return _UNSAFE_TOKEN.sub("_", text) or "_"


def subject_for(event: RecordedEvent, prefix: str) -> str:
    return f"{prefix}.{category_of(event.stream)}.{token(event.type)}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body_of(event: RecordedEvent) -> bytes:
    document = {
        "position": event.position,
        "event_id": str(event.event_id),
        "stream": event.stream,
        "version": event.version,
        "type": event.type,
        "schema_version": event.schema_version,
        "payload": event.payload,
        "metadata": event.metadata,
        "occurred_at": _iso(event.occurred_at),
        "recorded_at": _iso(event.recorded_at),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _header_value(value: object) -> str:
    """Header values are one line of text."""
    return _LINE_BREAKS.sub(" ", str(value))


def headers_of(event: RecordedEvent) -> dict[str, str]:
    headers = {
        HEADER_MSG_ID: str(event.event_id),
        HEADER_POSITION: str(event.position),
        HEADER_STREAM: _header_value(event.stream),
        HEADER_VERSION: str(event.version),
        HEADER_TYPE: _header_value(event.type),
        HEADER_SCHEMA_VERSION: str(event.schema_version),
    }
    correlation_id = event.metadata.get("correlation_id")
    if correlation_id:
        headers[HEADER_CORRELATION_ID] = _header_value(correlation_id)
    traceparent = event.metadata.get("traceparent")
    if traceparent:
        headers[HEADER_TRACEPARENT] = _header_value(traceparent)
    return headers


def message_for(event: RecordedEvent, *, prefix: str) -> Message:
    return Message(subject=subject_for(event, prefix), body=body_of(event), headers=headers_of(event))
