"""What the fulfillment workflow does with each error a step raises: the one classification.

Three answers (the full table of errors is in docs/ORDERS.md, "What a failing step does"):

- RETRY: transient. The same call may work in a moment: database errors (a dropped connection, a
  deadlock), `TransientConflict`, `TmsUnavailable` (timeout, 5xx, 429, open circuit), and anything
  that is not a `DomainError` (an unexpected error is not a business answer). Retried with backoff;
  after ORDER_WORKFLOW_MAX_ATTEMPTS tries, an error naming a partner outage in
  `waits_when_exhausted` (`TmsUnavailable`: "TMS unavailable") turns into a WAIT under that reason
  (a partner being down is not a refusal to ship, so the stock stays with the order); any other
  error gives up and compensates.
- WAIT: configuration is missing. The error names it in `waits_for` ("no carrier configured"): the
  order keeps its reservations, no attempt is counted, and the step runs again once the
  configuration exists (a configuration change kicks it; the sweeper re-checks meanwhile).
- COMPENSATE: a genuine refusal. Any other `DomainError`: the TMS answered that it cannot ship
  (`TmsRejected`), an unusable answer, an invalid plan. Retrying would fail the same way, so
  compensation releases the reservations and the order FAILS (or goes back to BACKORDERED).

A missing configuration is checked first: `TmsAddressRefused` is a `TmsUnavailable` (retryable)
and `NoDefaultCarrier` a `TmsRejected` (not), yet both wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import DatabaseError

from scm.errors import DomainError
from shipments.exceptions import NoDefaultCarrier, TmsAddressRefused, TmsCredentialsRefused, TmsUnavailable

# Every reason a step can wait for today (metrics report each, zero included).
WAIT_REASONS = (
    NoDefaultCarrier.waits_for,
    TmsAddressRefused.waits_for,
    TmsCredentialsRefused.waits_for,
    TmsUnavailable.waits_when_exhausted,
)


class Disposition(StrEnum):
    RETRY = "retry"
    WAIT = "wait"
    COMPENSATE = "compensate"


@dataclass(frozen=True)
class Classified:
    disposition: Disposition
    waiting_for: str = ""  # the named reason, for WAIT only


def waiting_reason(exc: BaseException) -> str:
    """The missing configuration an error names, or ""."""
    reason = getattr(exc, "waits_for", "")
    return reason.strip() if isinstance(reason, str) else ""


def exhausted_reason(exc: BaseException) -> str:
    """The outage a transient error names for when its retries run out ("TMS unavailable"), or ""."""
    reason = getattr(exc, "waits_when_exhausted", "")
    return reason.strip() if isinstance(reason, str) else ""


def classify(exc: BaseException) -> Classified:
    reason = waiting_reason(exc)
    if reason:
        return Classified(Disposition.WAIT, reason)
    if isinstance(exc, DatabaseError) or getattr(exc, "retryable", False) or not isinstance(exc, DomainError):
        return Classified(Disposition.RETRY)
    return Classified(Disposition.COMPENSATE)
