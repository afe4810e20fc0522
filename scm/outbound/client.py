"""`request()`: the one door for every call we make to a partner (policy, budget, breaker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
import structlog
from django.conf import settings

from scm.observability import metrics
from scm.outbound import policy, transport
from scm.outbound.breaker import BreakerPolicy, DbBreaker, partner_kind
from scm.outbound.exceptions import AddressRefused, OutboundError, ResponseTooLarge
from scm.outbound.transport import Budget

log = structlog.get_logger(__name__)

TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def partner_failed(response: requests.Response) -> bool:
    """The default judgement of an answer for the breaker: the partner is failing when it answers
    408, 429 or 5xx; any other answer (a 4xx refusal included) shows it alive."""
    return response.status_code in TRANSIENT_STATUS or response.status_code >= 500


def default_budget() -> Budget:
    return Budget(
        connect=settings.OUTBOUND_CONNECT_TIMEOUT_SECONDS,
        total=settings.OUTBOUND_TOTAL_TIMEOUT_SECONDS,
        max_bytes=settings.OUTBOUND_MAX_RESPONSE_BYTES,
    )


def request(
    method: str,
    url: str,
    *,
    partner: str,
    budget: Budget | None = None,
    breaker: BreakerPolicy | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    data: bytes | str | None = None,
    json: Any = None,
    auth: Any = None,
    cert: str | tuple[str, str] | None = None,
    ca_bundle: str | None = None,
    failed: Callable[[requests.Response], bool] = partner_failed,
) -> requests.Response:
    """Call `url` for `partner` (the breaker's name) within `budget`, through its circuit breaker.

    `cert` is our client certificate (path, or (cert, key)); `ca_bundle` a CA file to verify the
    partner's certificate with instead of the system's (verification is never switched off).
    Returns the response with its body read (redirects are returned, never followed); any HTTP
    status is returned, and `failed(response)` decides whether it counts against the breaker.
    Raises AddressRefused (the policy refused the URL or the address it resolves to), CircuitOpen
    (not called), CallFailed, DeadlineExceeded or ResponseTooLarge; all are OutboundError, with
    `retryable` and a message fit to record as the attempt's reason. Never call it inside a
    database transaction: the breaker writes its own rows, and the call would hold the transaction.
    """
    kind = partner_kind(partner)
    try:
        policy.check_url(url, what=None, resolve_names=False)
    except AddressRefused:
        metrics.outbound_calls_refused.labels(kind=kind, reason="address").inc()
        raise
    circuit = DbBreaker(partner, breaker or BreakerPolicy.from_settings())
    probe = circuit.allow()
    budget = budget or default_budget()
    try:
        response = transport.send(
            method, url, budget=budget, headers=headers, params=params, data=data, json=json, auth=auth, cert=cert,
            verify=ca_bundle or True,
        )
    except AddressRefused:
        metrics.outbound_calls_refused.labels(kind=kind, reason="address").inc()
        if probe:
            circuit.release_probe()
        raise
    except ResponseTooLarge:
        circuit.record_success()  # it answered: alive, if oversized
        raise
    except OutboundError as exc:
        circuit.record_failure(exc.message, probe=probe)
        log.warning("outbound.failed", partner=partner, error=exc.message, probe=probe)
        raise
    except BaseException:
        if probe:
            circuit.release_probe()
        raise
    _judge(circuit, response, failed=failed, probe=probe)
    return response


def _judge(circuit: DbBreaker, response: requests.Response, *, failed, probe: bool) -> None:
    """An answer the partner gave: `failed(response)` decides whether it counts against its breaker."""
    if failed(response):
        circuit.record_failure(f"HTTP {response.status_code}", probe=probe)
        log.warning("outbound.failed", partner=circuit.name, status=response.status_code, probe=probe)
    else:
        circuit.record_success()
