"""Partner transport's side of the one outbound policy (scm.outbound): the breaker, the budget, and
the SFTP session that obeys both.

Every call to a supplier's partner goes through `scm.outbound`: HTTPS and AS2 POSTs and the
asynchronous MDNs we owe through `scm.outbound.request` (partners/adapters/http.py), SFTP sessions
through `sftp_session` here (the address policy is judged in the adapter, the breaker here). All of a
supplier's calls share one circuit, `transport:<supplier code>`, a row of `outbound_breaker`, with
PARTNER_BREAKER_THRESHOLD failures in a row opening it for PARTNER_BREAKER_RESET_SECONDS. Read it
with `breaker_view`; the outbox asks `closed_until` before it claims a try, so entries of a partner
whose circuit is open wait without spending tries.

What counts against the circuit (as for every partner): no answer, a broken connection, a deadline,
408/429/5xx. A refusal (another 4xx, a wrong host key, a refused login, a missing folder) shows the
partner is alive and closes it; a refusal by our own address policy is neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings

from partners import stations
from partners.adapters import http, sftp
from partners.exceptions import AddressNotAllowed, BreakerOpen, TransportError
from partners.models import PartnerConnection
from scm import outbound
from scm.observability import metrics
from scm.outbound.breaker import BreakerPolicy, DbBreaker, breaker_close
from scm.outbound.models import BreakerState
from scm.outbound.selectors import BreakerView, breaker_get

PREFIX = "transport:"


def breaker_name(supplier_code: str) -> str:
    return f"{PREFIX}{supplier_code}"


def attempt_seconds() -> float:
    """The longest one try may take: connect, then the exchange."""
    return settings.PARTNER_CONNECT_TIMEOUT_SECONDS + settings.PARTNER_TIMEOUT_SECONDS


def breaker_policy() -> BreakerPolicy:
    # A probe's report is due within one try; it is replaced only after that (and never sooner than
    # the shared probe timeout), so a slow but live probe is not doubled.
    return BreakerPolicy(
        failure_threshold=settings.PARTNER_BREAKER_THRESHOLD,
        reset_seconds=settings.PARTNER_BREAKER_RESET_SECONDS,
        probe_timeout_seconds=max(settings.OUTBOUND_BREAKER_PROBE_TIMEOUT_SECONDS, attempt_seconds() + 10),
    )


def budget() -> outbound.Budget:
    return outbound.Budget(
        connect=settings.PARTNER_CONNECT_TIMEOUT_SECONDS,
        total=settings.PARTNER_TIMEOUT_SECONDS,
        max_bytes=settings.PARTNER_MAX_RESPONSE_BYTES,
    )


def http_call(supplier_code: str) -> http.Call:
    return http.Call(partner=breaker_name(supplier_code), budget=budget(), breaker=breaker_policy())


def breaker_view(supplier_code: str) -> BreakerView:
    return breaker_get(name=breaker_name(supplier_code))


def closed_until(supplier_code: str, *, now: datetime) -> datetime | None:
    """None when a call may go to the partner now; otherwise when to look again: when the open
    circuit lets a probe out, or when another caller's probe, still out, would be replaced (judged
    with `breaker_policy()`, as `DbBreaker.allow` will judge the call)."""
    view = breaker_view(supplier_code)
    if view.state == BreakerState.OPEN and view.opened_until is not None and view.opened_until > now:
        return view.opened_until
    if view.state == BreakerState.HALF_OPEN and view.probe_started_at is not None:
        replaced_at = view.probe_started_at + timedelta(seconds=breaker_policy().probe_timeout_seconds)
        return replaced_at if replaced_at > now else None
    return None


def circuit_close(supplier_code: str) -> bool:
    """Ops' word that the partner is back (a resend): close its circuit now."""
    return breaker_close(name=breaker_name(supplier_code))


@contextmanager
def sftp_session(connection: PartnerConnection) -> Iterator[sftp.Session]:
    """`with sftp_session(connection) as session:` an SFTP session to the partner's server through
    its circuit: refused at once (BreakerOpen) while it is open; the session's outcome reported to
    it when the block ends (a TransportError from the session or the block is judged as above)."""
    circuit = DbBreaker(breaker_name(connection.supplier.code), breaker_policy())
    try:
        probe = circuit.allow()
    except outbound.CircuitOpen as exc:
        until = exc.fields.get("until")
        raise BreakerOpen(exc.message, until=datetime.fromisoformat(until) if until else None) from None
    try:
        with sftp.Session(stations.sftp_target(connection)) as session:
            yield session
    except TransportError as exc:
        _report(circuit, exc, probe=probe)
        raise
    except BaseException:
        if probe:
            circuit.release_probe()  # not the partner's doing (our database, a missing secret)
        raise
    circuit.record_success()


def _report(circuit: DbBreaker, exc: TransportError, *, probe: bool) -> None:
    if isinstance(exc, AddressNotAllowed):
        metrics.outbound_calls_refused.labels(kind="transport", reason="address").inc()
        if probe:
            circuit.release_probe()
    elif exc.partner_failed:
        circuit.record_failure(exc.message, probe=probe)
    else:
        circuit.record_success()
