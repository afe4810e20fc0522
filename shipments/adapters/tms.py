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

Behaviour:
- Each HTTP attempt has a connect and a read timeout (TMS_CONNECT_TIMEOUT, TMS_READ_TIMEOUT).
- Transient failures (timeout, connection error, 5xx, 429) are retried up to TMS_MAX_ATTEMPTS
  attempts in total, waiting `equal jitter` exponential backoff between attempts: the n-th wait is
  d/2 + random(0, d/2) with d = min(TMS_BACKOFF_CAP_SECONDS, TMS_BACKOFF_BASE_SECONDS * 2**(n-1)),
  stretched to a Retry-After header when the TMS sends one (never beyond the cap). Then
  `TmsUnavailable` (retryable). A 4xx is never retried: `TmsRejected` with the TMS's reason.
- A circuit breaker stops hammering a dead TMS. Its state lives in the database table
  `shipments_circuitbreaker` (not in process memory, not in the cache), so every web and worker
  process sees the same circuit; one row per TMS endpoint, named `<TMS_CIRCUIT_NAME>@<host:port>`.
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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import structlog
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from shipments.exceptions import NoDefaultCarrier, TmsBadResponse, TmsRejected, TmsUnavailable
from shipments.models import Carrier, CircuitBreaker, CircuitState

log = structlog.get_logger(__name__)


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


# --- Circuit breaker ----------------------------------------------------------------------------


class CircuitOpen(Exception):
    def __init__(self, name: str, until: datetime | None) -> None:
        super().__init__(f"circuit {name!r} is open" + (f" until {until.isoformat()}" if until else ""))
        self.until = until


@dataclass
class DbCircuitBreaker:
    """A circuit breaker whose state is one database row, shared by every process."""

    name: str
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    probe_timeout_seconds: float = 60.0
    now: Callable[[], datetime] = field(default=timezone.now)

    def allow(self) -> bool:
        """Return whether this call is the half-open probe; raise CircuitOpen when calls must not go out."""
        row = CircuitBreaker.objects.filter(name=self.name).first()
        if row is None or row.state == CircuitState.CLOSED:
            return False
        now = self.now()
        rows = CircuitBreaker.objects.filter(name=self.name)
        if row.state == CircuitState.OPEN:
            if row.opened_until and now < row.opened_until:
                raise CircuitOpen(self.name, row.opened_until)
            taken = rows.filter(state=CircuitState.OPEN, opened_until__lte=now).update(
                state=CircuitState.HALF_OPEN, probe_started_at=now
            )
        else:
            stuck_before = now - timedelta(seconds=self.probe_timeout_seconds)
            taken = rows.filter(state=CircuitState.HALF_OPEN, probe_started_at__lte=stuck_before).update(
                probe_started_at=now
            )
        if not taken:
            raise CircuitOpen(self.name, row.opened_until)
        log.info("circuit.probe", circuit=self.name)
        return True

    def record_success(self) -> None:
        CircuitBreaker.objects.filter(name=self.name).exclude(state=CircuitState.CLOSED, consecutive_failures=0).update(
            state=CircuitState.CLOSED, consecutive_failures=0, opened_until=None, probe_started_at=None
        )

    def record_failure(self, error: str, *, probe: bool) -> None:
        now = self.now()
        CircuitBreaker.objects.get_or_create(name=self.name)
        rows = CircuitBreaker.objects.filter(name=self.name)
        reopen_until = now + timedelta(seconds=self.reset_seconds)
        if probe:
            rows.update(
                state=CircuitState.OPEN,
                opened_until=reopen_until,
                probe_started_at=None,
                consecutive_failures=F("consecutive_failures") + 1,
                last_error=error[:2000],
            )
            log.warning("circuit.reopened", circuit=self.name, error=error)
            return
        rows.update(consecutive_failures=F("consecutive_failures") + 1, last_error=error[:2000])
        opened = rows.filter(state=CircuitState.CLOSED, consecutive_failures__gte=self.failure_threshold).update(
            state=CircuitState.OPEN, opened_until=reopen_until
        )
        if opened:
            log.warning("circuit.opened", circuit=self.name, until=reopen_until.isoformat(), error=error)

    def state(self) -> str:
        row = CircuitBreaker.objects.filter(name=self.name).first()
        return row.state if row else CircuitState.CLOSED


def circuit_name(prefix: str, base_url: str) -> str:
    """One circuit per TMS endpoint: `<prefix>@<host:port>`, so two TMSs never share a circuit."""
    return f"{prefix}@{urlsplit(base_url).netloc}"[:64]


# --- The HTTP client ----------------------------------------------------------------------------


class TmsClient:
    """Plans shipments with the external TMS. Never call it inside a database transaction."""

    name = "tms"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        circuit: DbCircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.circuit = circuit or DbCircuitBreaker(name="tms")
        self.sleep = sleep
        self.rng = rng
        self.session = session or requests.Session()

    @classmethod
    def from_settings(cls, **overrides: Any) -> TmsClient:
        options: dict[str, Any] = {
            "base_url": settings.TMS_BASE_URL,
            "api_key": settings.TMS_API_KEY,
            "connect_timeout": settings.TMS_CONNECT_TIMEOUT,
            "read_timeout": settings.TMS_READ_TIMEOUT,
            "retry": RetryPolicy(
                max_attempts=max(1, settings.TMS_MAX_ATTEMPTS),
                base_delay=settings.TMS_BACKOFF_BASE_SECONDS,
                max_delay=settings.TMS_BACKOFF_CAP_SECONDS,
            ),
            "circuit": DbCircuitBreaker(
                name=circuit_name(settings.TMS_CIRCUIT_NAME, overrides.get("base_url") or settings.TMS_BASE_URL),
                failure_threshold=settings.TMS_CIRCUIT_FAILURE_THRESHOLD,
                reset_seconds=settings.TMS_CIRCUIT_RESET_SECONDS,
                probe_timeout_seconds=settings.TMS_CIRCUIT_PROBE_TIMEOUT_SECONDS,
            ),
        }
        options.update(overrides)
        return cls(**options)

    def plan(self, request: TmsPlanRequest) -> TmsPlan:
        url = f"{self.base_url}/shipments"
        headers = {"Accept": "application/json", "Idempotency-Key": f"{request.reference}/{request.plan_key}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = request.as_json()
        failure = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                probe = self.circuit.allow()
            except CircuitOpen as exc:
                raise TmsUnavailable(
                    f"TMS circuit is open after repeated failures; not calling it ({failure or 'earlier failures'}).",
                    attempts=attempt - 1,
                    circuit="open",
                    retry_at=exc.until.isoformat() if exc.until else None,
                ) from None
            retry_after: float | None = None
            try:
                response = self.session.post(url, json=body, headers=headers, timeout=self.timeout)
            except requests.Timeout:
                failure = f"timed out (connect {self.timeout[0]}s, read {self.timeout[1]}s)"
            except requests.ConnectionError as exc:
                failure = f"connection failed: {type(exc).__name__}"
            except requests.RequestException as exc:
                raise TmsRejected(f"TMS request could not be made: {exc}", attempts=attempt) from None
            else:
                if 200 <= response.status_code < 300:
                    self.circuit.record_success()
                    return self._parse(response, attempts=attempt)
                if response.status_code == 429 or response.status_code >= 500:
                    failure = f"HTTP {response.status_code}: {_reason(response)}"
                    retry_after = _retry_after(response)
                else:
                    self.circuit.record_success()
                    reason = _reason(response)
                    log.warning("tms.rejected", status=response.status_code, reason=reason, reference=request.reference)
                    raise TmsRejected(
                        f"TMS refused the shipment (HTTP {response.status_code}): {reason}",
                        attempts=attempt,
                        http_status=response.status_code,
                        reason=reason,
                    )
            log.warning("tms.attempt_failed", attempt=attempt, error=failure, reference=request.reference)
            self.circuit.record_failure(failure, probe=probe)
            if attempt < self.retry.max_attempts:
                self.sleep(self.retry.delay(attempt, self.rng, retry_after))
        raise TmsUnavailable(
            f"TMS unavailable after {self.retry.max_attempts} attempt(s): {failure}",
            attempts=self.retry.max_attempts,
            last_error=failure,
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
