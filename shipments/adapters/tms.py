"""Planning a shipment with a transport management system (TMS) over HTTP JSON.

Protocol (what a TMS, or a test stand-in, must speak):

    POST <TMS_BASE_URL>/shipments
    Authorization: Bearer <TMS_API_KEY>          (when a key is configured)
    Idempotency-Key: <reference>/<plan_key>      (the same booking for a repeated plan)
    {"reference": "order-42", "plan_key": "...", "from_location": "WH-A",
     "lines": [{"sku": "ABC", "qty": 6}], "promised_date": "2026-12-01" | null,
     "carrier": "DHL" | null, "service_level": "express" | null}

    200/201 {"carrier": "DHL", "tracking_number": "JD0001", "estimated_arrival": "2026-11-30",
             "service_level": "express"}     (estimated_arrival and service_level optional)
    4xx     {"error": "<reason>"} (or "message"/"detail"/"reason", or plain text): refused, not retried
            (401/403 refuse our TMS_API_KEY: `TmsCredentialsRefused`, configuration the workflow waits for)

Behaviour:
- Every attempt goes through `scm.outbound.request` (the outbound policy): TMS_BASE_URL must be an
  http(s) URL whose host resolves to a public address unless OUTBOUND_ALLOWED_NETWORKS allows it
  (checked at its first use in each process, and again at every connect); a refused address is
  `TmsAddressRefused` (a configuration problem, retryable, never sent). Each attempt has a connect
  timeout (TMS_CONNECT_TIMEOUT) and a total deadline for the whole attempt
  (TMS_ATTEMPT_TIMEOUT_SECONDS), so a TMS that trickles its answer cannot hold the worker.
- Transient failures (timeout, connection error, 5xx, 408, 429) are retried up to TMS_MAX_ATTEMPTS
  attempts in total, waiting `equal jitter` exponential backoff between attempts: the n-th wait is
  d/2 + random(0, d/2) with d = min(TMS_BACKOFF_CAP_SECONDS, TMS_BACKOFF_BASE_SECONDS * 2**(n-1)),
  stretched to a Retry-After header when the TMS sends one (never beyond the cap). Then
  `TmsUnavailable` (retryable). A 4xx is never retried: `TmsRejected` with the TMS's reason.
- A circuit breaker stops hammering a dead TMS: the outbound policy's breaker (`scm.outbound.breaker`),
  whose state is a row of `outbound_breaker` (not process memory, not the cache), so every web and
  worker process sees the same circuit; one row per TMS endpoint, named `<TMS_CIRCUIT_NAME>@<host:port>`.
  After TMS_CIRCUIT_FAILURE_THRESHOLD consecutive transient failures it opens for
  TMS_CIRCUIT_RESET_SECONDS: calls fail at once with `TmsUnavailable` (circuit open). Then exactly
  one caller (a conditional UPDATE decides who) probes the TMS: success closes the circuit,
  failure opens it again. A probe that never reports back (its process died) is replaced after
  TMS_CIRCUIT_PROBE_TIMEOUT_SECONDS. A 4xx or a 2xx counts as the TMS being alive.
- With no TMS_BASE_URL, `BuiltinPlanner` plans locally: the requested or default carrier, a
  generated tracking number, and an ETA of today plus the carrier's transit days.

The sleep function and the random source are injectable, so tests check retry timing without
sleeping; settings can also set the backoff to 0.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import structlog
from django.conf import settings
from django.utils import timezone

from scm import outbound
from scm.outbound.breaker import BreakerPolicy
from scm.outbound.client import partner_failed
from shipments.exceptions import (
    NoDefaultCarrier,
    TmsAddressRefused,
    TmsBadResponse,
    TmsCredentialsRefused,
    TmsRejected,
    TmsUnavailable,
)
from shipments.models import Carrier

log = structlog.get_logger(__name__)

_MAX_ANSWER_BYTES = 256 * 1024  # a plan is a few hundred bytes; anything near this is not one


@dataclass(frozen=True)
class TmsLine:
    sku: str
    qty: int


@dataclass(frozen=True)
class TmsPlanRequest:
    reference: str
    plan_key: str
    from_location: str
    lines: tuple[TmsLine, ...]
    promised_date: date | None = None
    carrier: str | None = None
    service_level: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "plan_key": self.plan_key,
            "from_location": self.from_location,
            "lines": [{"sku": line.sku, "qty": line.qty} for line in self.lines],
            "promised_date": self.promised_date.isoformat() if self.promised_date else None,
            "carrier": self.carrier,
            "service_level": self.service_level,
        }


@dataclass(frozen=True)
class TmsPlan:
    carrier: str
    tracking_number: str
    estimated_arrival: date | None
    service_level: str
    attempts: int = 1
    planner: str = "tms"


class Planner(Protocol):
    name: str

    def plan(self, request: TmsPlanRequest) -> TmsPlan: ...


# --- Retry policy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = ceiling / 2 + rng() * ceiling / 2
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


# --- The HTTP client ----------------------------------------------------------------------------


def circuit_name(prefix: str, base_url: str) -> str:
    """One circuit per TMS endpoint: `<prefix>@<host:port>`, so two TMSs never share a circuit."""
    return f"{prefix}@{urlsplit(base_url).netloc}"[:200]


@lru_cache(maxsize=16)
def _base_url_checked(base_url: str) -> bool:
    """The save-time policy check of TMS_BASE_URL, once per URL and process (its first use);
    refusals are not cached, so a fixed setting is picked up. Each call is checked again at connect."""
    outbound.check_url(base_url, what="TMS_BASE_URL")
    return True


class TmsClient:
    """Plans shipments with the external TMS. Never call it inside a database transaction."""

    name = "tms"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        connect_timeout: float = 3.05,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        breaker_name: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.budget = outbound.Budget(connect=connect_timeout, total=timeout, max_bytes=_MAX_ANSWER_BYTES)
        self.retry = retry or RetryPolicy()
        self.breaker = breaker or BreakerPolicy()
        self.breaker_name = breaker_name or circuit_name("tms", base_url)
        self.sleep = sleep
        self.rng = rng

    @classmethod
    def from_settings(cls, **overrides: Any) -> TmsClient:
        base_url = overrides.get("base_url") or settings.TMS_BASE_URL
        options: dict[str, Any] = {
            "base_url": base_url,
            "api_key": settings.TMS_API_KEY,
            "connect_timeout": settings.TMS_CONNECT_TIMEOUT,
            "timeout": settings.TMS_ATTEMPT_TIMEOUT_SECONDS,
            "retry": RetryPolicy(
                max_attempts=max(1, settings.TMS_MAX_ATTEMPTS),
                base_delay=settings.TMS_BACKOFF_BASE_SECONDS,
                max_delay=settings.TMS_BACKOFF_CAP_SECONDS,
            ),
            "breaker": BreakerPolicy(
                failure_threshold=settings.TMS_CIRCUIT_FAILURE_THRESHOLD,
                reset_seconds=settings.TMS_CIRCUIT_RESET_SECONDS,
                probe_timeout_seconds=settings.TMS_CIRCUIT_PROBE_TIMEOUT_SECONDS,
            ),
            "breaker_name": circuit_name(settings.TMS_CIRCUIT_NAME, base_url),
        }
        options.update(overrides)
        return cls(**options)

    def plan(self, request: TmsPlanRequest) -> TmsPlan:
        url = f"{self.base_url}/shipments"
        headers = {"Accept": "application/json", "Idempotency-Key": f"{request.reference}/{request.plan_key}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            _base_url_checked(self.base_url)
        except outbound.AddressRefused as exc:
            raise TmsAddressRefused(exc.message, attempts=0) from None
        body = request.as_json()
        failure = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            response, error = self._attempt(url, headers, body, attempt=attempt, failure=failure)
            retry_after: float | None = None
            if response is not None:
                if 200 <= response.status_code < 300:
                    return self._parse(response, attempts=attempt)
                if not partner_failed(response):
                    raise self._rejected(response, request, attempts=attempt)
                error = f"HTTP {response.status_code}: {_reason(response)}"
                retry_after = _retry_after(response)
            failure = error
            log.warning("tms.attempt_failed", attempt=attempt, error=failure, reference=request.reference)
            if attempt < self.retry.max_attempts:
                self.sleep(self.retry.delay(attempt, self.rng, retry_after))
        raise TmsUnavailable(
            f"TMS unavailable after {self.retry.max_attempts} attempt(s): {failure}",
            attempts=self.retry.max_attempts,
            last_error=failure,
        )

    def _attempt(
        self, url: str, headers: dict[str, str], body: dict[str, Any], *, attempt: int, failure: str
    ) -> tuple[requests.Response | None, str]:
        """One call through the outbound policy: the answer, or None and why it failed (transient).
        Raises what must not be retried: an open circuit, a refused address, an unusable answer."""
        try:
            response = outbound.request(
                "POST", url, partner=self.breaker_name, budget=self.budget, breaker=self.breaker,
                headers=headers, json=body,
            )
        except outbound.CircuitOpen as exc:
            raise TmsUnavailable(
                f"TMS circuit is open after repeated failures; not calling it ({failure or 'earlier failures'}).",
                attempts=attempt - 1,
                circuit="open",
                retry_at=exc.fields.get("until"),
            ) from None
        except outbound.AddressRefused as exc:
            raise TmsAddressRefused(exc.message, attempts=attempt) from None
        except outbound.OutboundError as exc:
            if not exc.retryable:
                raise TmsBadResponse(f"TMS answer unusable: {exc.message}", attempts=attempt) from None
            return None, exc.message
        return response, ""

    @staticmethod
    def _rejected(response: requests.Response, request: TmsPlanRequest, *, attempts: int) -> TmsRejected:
        reason = _reason(response)
        log.warning("tms.rejected", status=response.status_code, reason=reason, reference=request.reference)
        # 401/403 speak about our credentials, not about the shipment: configuration to fix.
        error = TmsCredentialsRefused if response.status_code in (401, 403) else TmsRejected
        return error(
            f"TMS refused the shipment (HTTP {response.status_code}): {reason}",
            attempts=attempts,
            http_status=response.status_code,
            reason=reason,
        )

    def _parse(self, response: requests.Response, *, attempts: int) -> TmsPlan:
        try:
            data = response.json()
        except ValueError:
            raise TmsBadResponse("TMS answered with a body that is not JSON.", attempts=attempts) from None
        if not isinstance(data, dict):
            raise TmsBadResponse("TMS answered with JSON that is not an object.", attempts=attempts)
        carrier = data.get("carrier")
        tracking = data.get("tracking_number")
        for name, value, limit in (("carrier", carrier, 32), ("tracking_number", tracking, 64)):
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
                raise TmsBadResponse(
                    f"TMS answer has no usable {name} (a non-empty string of at most {limit} characters): {value!r}.",
                    attempts=attempts,
                    field=name,
                )
        eta_raw = data.get("estimated_arrival")
        eta = None
        if eta_raw is not None:
            try:
                eta = _parse_date(eta_raw)
            except (TypeError, ValueError):
                raise TmsBadResponse(
                    f"TMS answer has an estimated_arrival that is not an ISO date: {eta_raw!r}.",
                    attempts=attempts,
                    field="estimated_arrival",
                ) from None
        level = data.get("service_level") or ""
        if not isinstance(level, str) or len(level) > 32:
            raise TmsBadResponse(f"TMS answer has an unusable service_level: {level!r}.", attempts=attempts)
        return TmsPlan(
            carrier=carrier.strip(),
            tracking_number=tracking.strip(),
            estimated_arrival=eta,
            service_level=level,
            attempts=attempts,
        )


def _parse_date(value: object) -> date:
    if not isinstance(value, str):
        raise TypeError(value)
    try:
        return date.fromisoformat(value)
    except ValueError:
        return datetime.fromisoformat(value).date()


def _reason(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:500] or "no reason given"
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "reason"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value
            if value:
                return str(value)[:500]
    return str(data)[:500]


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


# --- The built-in planner (no TMS configured) ---------------------------------------------------


class BuiltinPlanner:
    """Plans without a TMS: the requested carrier or the default one, a generated tracking number,
    and an ETA of today plus the carrier's transit days. Reads carriers; writes nothing."""

    name = "builtin"

    def __init__(self, *, today: Callable[[], date] = timezone.localdate) -> None:
        self.today = today

    def plan(self, request: TmsPlanRequest) -> TmsPlan:
        carriers = Carrier.objects.filter(active=True)
        carrier = (
            carriers.filter(code=request.carrier).first()
            if request.carrier
            else carriers.filter(is_default=True).first()
        )
        if carrier is None:
            if request.carrier:
                raise TmsRejected(f"Carrier {request.carrier!r} is not an active carrier.", carrier=request.carrier)
            raise NoDefaultCarrier()
        if request.service_level and carrier.service_levels and request.service_level not in carrier.service_levels:
            raise TmsRejected(
                f"Carrier {carrier.code!r} does not offer service level {request.service_level!r}.",
                carrier=carrier.code,
                service_level=request.service_level,
            )
        level = request.service_level or (carrier.service_levels[0] if carrier.service_levels else "standard")
        return TmsPlan(
            carrier=carrier.code,
            tracking_number=f"{carrier.code}-{uuid.uuid4().hex[:12].upper()}",
            estimated_arrival=self.today() + timedelta(days=carrier.transit_days),
            service_level=level,
            attempts=0,
            planner=self.name,
        )


def planner_from_settings() -> Planner:
    """The TMS client when TMS_BASE_URL is set, else the built-in planner."""
    if settings.TMS_BASE_URL:
        return TmsClient.from_settings()
    return BuiltinPlanner()
