"""Outbound calls: the one policy every call we make to a partner goes through.

    from scm import outbound

    response = outbound.request(
        "POST", url, partner=f"webhook:{endpoint_id}",           # the breaker's name
        budget=outbound.Budget(connect=2, total=10, max_bytes=65536),
        headers={...}, data=body,                                # or json=, params=, auth=, cert=
    )

`request` checks the URL (http(s) only; a literal or `localhost` address judged at once), refuses
at once when the partner's circuit breaker is open, then makes one attempt whose every connection
goes only to an address the policy allows (resolved and judged at connect time, so DNS rebinding
fails), within the budget: connect timeout, a total deadline for the whole attempt (a partner that
trickles bytes is cut off), and a cap on the answer's size. Redirects are never followed. The answer
(any HTTP status) comes back with its body read; 408, 429 and 5xx count against the breaker.
Failures raise `OutboundError` subclasses carrying `retryable` and a message to record as the
attempt's reason: `AddressRefused` (never retryable), `CircuitOpen`, `CallFailed`,
`DeadlineExceeded`, `ResponseTooLarge`. Retries are the caller's policy, not this module's.

`check_url(url, what="webhook URL")` is the save-time check: it raises `AddressRefused` (an HTTP 400
through the API's error handler) with a message naming the refusal.

Breaker names: `webhook:<endpoint id>`, `tms@<host:port>`, `supplier-feed:<code>`,
`carrier-feed:<code>`, `transport:<supplier code>`. Read them with `scm.outbound.selectors`
(`breakers_open()`, `breaker_get(name=...)`). Settings: `OUTBOUND_*` (docs/ARCHITECTURE.md,
"Outbound calls").

Modules: `policy` (addresses, allow-list, URL checks), `transport` (the guarded requests adapter and
the deadline), `breaker` (the database-backed circuit), `client` (`request`), `selectors`.
"""

from scm.outbound.exceptions import (
    AddressRefused,
    CallFailed,
    CircuitOpen,
    DeadlineExceeded,
    OutboundError,
    ResponseTooLarge,
)
from scm.outbound.policy import check_url, is_http_url
from scm.outbound.transport import Budget


def request(method, url, **kwargs):
    """See `scm.outbound.client.request` (imported late: it needs the app registry ready)."""
    from scm.outbound.client import request as _request

    return _request(method, url, **kwargs)


__all__ = [
    "AddressRefused",
    "Budget",
    "CallFailed",
    "CircuitOpen",
    "DeadlineExceeded",
    "OutboundError",
    "ResponseTooLarge",
    "check_url",
    "is_http_url",
    "request",
]
