"""The webhook signature: HMAC-SHA256 over "<timestamp>.<body>" with the endpoint's secret.

Receivers recompute it over the raw body bytes they received and compare in constant time; the
timestamp inside the signed text lets them refuse replays of old deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-SCM-Signature"
TIMESTAMP_HEADER = "X-SCM-Timestamp"
EVENT_ID_HEADER = "X-SCM-Event-Id"
EVENT_TYPE_HEADER = "X-SCM-Event-Type"
DELIVERY_ID_HEADER = "X-SCM-Delivery-Id"
SCHEME = "sha256="


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-SCM-Signature header value for `body` sent at `timestamp` (Unix seconds)."""
    message = str(timestamp).encode() + b"." + body
    return SCHEME + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """Receiver side: the signature matches and the timestamp is within `tolerance_seconds` of now."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body), signature)
