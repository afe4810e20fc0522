"""Sending one signed webhook request. No database, no retry policy: bytes out, an outcome back."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests

from scm.webhooks import signing

USER_AGENT = "scm-webhooks/1"
_ERROR_SNIPPET = 500


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    status_code: int | None
    error: str


def post_signed(
    *,
    url: str,
    body: bytes,
    secret: str,
    event_id: str,
    event_type: str,
    delivery_id: int,
    timeout: float,
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
        response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return SendOutcome(ok=False, status_code=None, error=f"{type(exc).__name__}: {exc}"[:_ERROR_SNIPPET])
    if 200 <= response.status_code < 300:
        return SendOutcome(ok=True, status_code=response.status_code, error="")
    snippet = response.text[:200].strip()
    error = f"HTTP {response.status_code}" + (f": {snippet}" if snippet else "")
    return SendOutcome(ok=False, status_code=response.status_code, error=error[:_ERROR_SNIPPET])
