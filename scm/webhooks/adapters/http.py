"""Sending one signed webhook request through the outbound policy. No database writes of its own
(the breaker's, inside `scm.outbound`, aside), no retry policy: bytes out, an outcome back."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from scm import outbound
from scm.webhooks import signing

USER_AGENT = "scm-webhooks/1"
_ERROR_SNIPPET = 500
# A receiver's answer is judged by its status; its body is kept only as an error snippet.
_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    status_code: int | None
    error: str
    sent: bool = True  # False: not attempted (the endpoint's breaker is open); no attempt is spent


def breaker_name(endpoint_id: int) -> str:
    return f"webhook:{endpoint_id}"


def budget() -> outbound.Budget:
    return outbound.Budget(
        connect=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        total=settings.WEBHOOK_TIMEOUT_SECONDS,
        max_bytes=_ANSWER_BYTES,
    )


def post_signed(
    *,
    url: str,
    body: bytes,
    secret: str,
    event_id: str,
    event_type: str,
    delivery_id: int,
    endpoint_id: int,
    traceparent: str = "",
) -> SendOutcome:
    """POST `body` with the signature headers. Success is a 2xx answer; redirects are not followed.

    `traceparent` (the event's, W3C trace context) lets a receiver join the trace that caused it.
    """
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.TIMESTAMP_HEADER: str(timestamp),
        signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
        signing.EVENT_ID_HEADER: event_id,
        signing.EVENT_TYPE_HEADER: event_type,
        signing.DELIVERY_ID_HEADER: str(delivery_id),
    }
    if traceparent:
        headers["traceparent"] = traceparent
    try:
        response = outbound.request(
            "POST", url, partner=breaker_name(endpoint_id), budget=budget(), headers=headers, data=body
        )
    except outbound.CircuitOpen as exc:
        return SendOutcome(ok=False, status_code=None, error=exc.message[:_ERROR_SNIPPET], sent=False)
    except outbound.ResponseTooLarge as exc:
        ok = 200 <= exc.status_code < 300
        return SendOutcome(ok=ok, status_code=exc.status_code, error="" if ok else exc.message[:_ERROR_SNIPPET])
    except outbound.OutboundError as exc:
        return SendOutcome(ok=False, status_code=None, error=exc.message[:_ERROR_SNIPPET])
    if 200 <= response.status_code < 300:
        return SendOutcome(ok=True, status_code=response.status_code, error="")
    snippet = response.text[:200].strip()
    error = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    return SendOutcome(ok=False, status_code=response.status_code, error=error[:_ERROR_SNIPPET])
