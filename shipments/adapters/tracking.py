"""Carrier tracking updates: JSON in, a canonical `CarrierUpdate` out, or a precise `MalformedUpdate`.

One parser for every way updates arrive (webhook, polled feed, per-shipment API), so each refuses
bad input with the same reasons. Accepted shape:

    {"tracking_number": "JD0001", "status": "IN_TRANSIT", "occurred_at": "2026-11-27T10:00:00+01:00",
     "note": "Arrived at hub", "carrier": "DHL", "estimated_arrival": "2026-11-30"}

`status` is one of DEPARTED, IN_TRANSIT, DELAYED, EXCEPTION, DELIVERED; case, spaces and hyphens
are forgiven ("in transit" is IN_TRANSIT). `occurred_at` must carry a time zone offset: a time
without one is refused rather than guessed. `note`, `carrier` and `estimated_arrival` are optional;
unknown fields are ignored (the raw update is stored whole anyway).

The feed adapter `fetch_feed` reads a carrier's feed: HTTP GET returning a JSON list of updates,
through the outbound policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from scm import outbound
from scm.validation import FUTURE_TOLERANCE
from shipments.adapters.carrier_urls import feed_breaker_name
from shipments.exceptions import CarrierFeedError
from shipments.models import TrackingStatus

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_NOTE = 2000


@dataclass(frozen=True)
class CarrierUpdate:
    tracking_number: str
    status: str
    occurred_at: datetime
    note: str = ""
    carrier: str = ""
    estimated_arrival: date | None = None


class MalformedUpdate(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def storable(value: Any) -> Any:
    """The JSON value with every string made storable in PostgreSQL: a NUL becomes the text
    `\\u0000` and a lone surrogate its `\\udXXX` escape. Nothing else changes."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    return value


def _clean_text(value: str, field: str) -> str:
    if value != storable(value):
        raise MalformedUpdate(field, "contains a NUL character or an unpaired surrogate")
    return value


def normalise_status(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    candidate = value.strip().upper().replace("-", "_").replace(" ", "_")
    return candidate if candidate in TrackingStatus.values else None


def parse_update(raw: Any, *, require_tracking_number: bool = True, now: datetime | None = None) -> CarrierUpdate:
    """Validate one update. Raises MalformedUpdate naming the first bad field and why."""
    if not isinstance(raw, dict):
        raise MalformedUpdate("body", f"expected a JSON object, got {type(raw).__name__}")

    tracking = raw.get("tracking_number")
    if tracking is None or tracking == "":
        if require_tracking_number:
            raise MalformedUpdate("tracking_number", "is required")
        tracking = ""
    elif not isinstance(tracking, str) or not tracking.strip():
        raise MalformedUpdate("tracking_number", "must be a non-empty string")
    elif len(tracking.strip()) > 64:
        raise MalformedUpdate("tracking_number", "is longer than 64 characters")
    else:
        _clean_text(tracking, "tracking_number")

    if "status" not in raw:
        raise MalformedUpdate("status", "is required")
    status = normalise_status(raw["status"])
    if status is None:
        raise MalformedUpdate("status", f"{raw['status']!r} is not one of {', '.join(TrackingStatus.values)}")

    occurred_at = parse_aware_datetime(raw.get("occurred_at"), "occurred_at", now=now)

    note = raw.get("note") or ""
    if not isinstance(note, str):
        raise MalformedUpdate("note", "must be a string")
    _clean_text(note, "note")
    carrier = raw.get("carrier") or ""
    if not isinstance(carrier, str) or len(carrier) > 32:
        raise MalformedUpdate("carrier", "must be a carrier code (a string of at most 32 characters)")
    _clean_text(carrier, "carrier")

    eta_raw = raw.get("estimated_arrival")
    eta = None
    if eta_raw not in (None, ""):
        if not isinstance(eta_raw, str):
            raise MalformedUpdate("estimated_arrival", "must be an ISO date (YYYY-MM-DD)")
        try:
            eta = date.fromisoformat(eta_raw)
        except ValueError:
            try:
                eta = datetime.fromisoformat(eta_raw).date()
            except ValueError:
                raise MalformedUpdate("estimated_arrival", f"{eta_raw!r} is not an ISO date (YYYY-MM-DD)") from None

    return CarrierUpdate(
        tracking_number=tracking.strip(),
        status=status,
        occurred_at=occurred_at,
        note=note[:MAX_NOTE],
        carrier=carrier.strip(),
        estimated_arrival=eta,
    )


def parse_aware_datetime(value: object, field: str, *, now: datetime | None = None) -> datetime:
    if value is None or value == "":
        raise MalformedUpdate(field, "is required")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise MalformedUpdate(field, f"{value!r} is not an ISO 8601 date-time") from None
    else:
        raise MalformedUpdate(field, "must be an ISO 8601 date-time string")
    if timezone.is_naive(parsed):
        raise MalformedUpdate(field, f"{value!r} has no time zone offset; add one (e.g. Z or +01:00)")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise MalformedUpdate(field, f"{value!r} is out of range") from None
    if parsed < EARLIEST:
        raise MalformedUpdate(field, f"{value!r} is implausibly old (before {EARLIEST.date().isoformat()})")
    if parsed > (now or timezone.now()) + FUTURE_TOLERANCE:
        raise MalformedUpdate(field, f"{value!r} lies in the future")
    return parsed


def fetch_feed(
    url: str,
    *,
    carrier: str,
    since: datetime | None = None,
    timeout: float = 10.0,
) -> list[Any]:
    """GET the carrier's feed (with ?since=<ISO time> when known) and return its JSON list as-is.

    The call goes through the outbound policy (`scm.outbound`): `timeout` is the total deadline of
    the attempt, the carrier's breaker is `carrier-feed:<code>`, the answer is capped at
    OUTBOUND_MAX_RESPONSE_BYTES.

    Raises CarrierFeedError: retryable for timeouts, connection errors, an open breaker, 5xx and
    429; not retryable for an address the policy refuses, an oversized answer, other statuses and
    a body that is not a JSON list.
    """
    params = {"since": since.isoformat()} if since else None
    budget = outbound.Budget(
        connect=min(settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS, timeout),
        total=timeout,
        max_bytes=settings.OUTBOUND_MAX_RESPONSE_BYTES,
    )
    try:
        response = outbound.request(
            "GET", url, partner=feed_breaker_name(carrier), budget=budget, params=params,
            headers={"Accept": "application/json"},
        )
    except outbound.OutboundError as exc:
        raise CarrierFeedError(f"feed not read: {exc.message}", carrier=carrier, retryable=exc.retryable) from None
    if response.status_code != 200:
        transient = response.status_code == 429 or response.status_code >= 500
        raise CarrierFeedError(f"feed answered HTTP {response.status_code}", carrier=carrier, retryable=transient)
    try:
        data = response.json()
    except ValueError:
        raise CarrierFeedError("feed body is not JSON", carrier=carrier, retryable=False) from None
    if not isinstance(data, list):
        raise CarrierFeedError(
            f"feed body is a JSON {type(data).__name__}, expected a list", carrier=carrier, retryable=False
        )
    return data
