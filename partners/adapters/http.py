"""One HTTP POST to a partner (HTTPS POST, AS2 messages, the asynchronous MDNs we owe), through the one
outbound policy: `scm.outbound.request` judges the address at connect time, holds the attempt to its
budget and keeps the partner's circuit breaker. This module only maps its outcomes onto
TransportError, the error every partner adapter raises.

- 2xx: the answer (status, headers, body).
- 408, 425, 429, 5xx, a connection that fails, a deadline that passes: retryable.
- any other status, an address the policy refuses, an answer above the size cap: not retryable
  (the same bytes would meet the same end). An oversized 2xx answer still counts as taken when the
  caller does not need the body (`body_needed=False`: HTTPS POST, whose answer is only its status).
- the partner's circuit is open: BreakerOpen (not called; the outbox gives the try back).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from partners.exceptions import BreakerOpen, TransportError
from scm import outbound

if TYPE_CHECKING:
    from scm.outbound.breaker import BreakerPolicy

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Call:
    """Who is called (the breaker's name), with what budget and breaker policy."""

    partner: str
    budget: outbound.Budget
    breaker: BreakerPolicy


def post(*, url: str, body: bytes, headers: dict[str, str], call: Call, body_needed: bool = True) -> Answer:
    """POST `body` to `url` once. Raises TransportError (BreakerOpen when the circuit is open)."""
    try:
        response = outbound.request(
            "POST", url, partner=call.partner, budget=call.budget, breaker=call.breaker, headers=headers, data=body
        )
    except outbound.CircuitOpen as exc:
        raise BreakerOpen(exc.message, until=_parse_until(exc.fields.get("until"))) from None
    except outbound.ResponseTooLarge as exc:
        if 200 <= exc.status_code < 300 and not body_needed:
            return Answer(exc.status_code, {}, b"")
        raise TransportError(f"calling {url}: {exc.message}", retryable=False) from None
    except outbound.OutboundError as exc:
        raise TransportError(f"calling {url}: {exc.message}", retryable=exc.retryable) from None
    status = response.status_code
    if not 200 <= status < 300:
        snippet = response.content[:200].decode("utf-8", "replace").strip()
        raise TransportError(
            f"HTTP {status} from {url}" + (f": {snippet}" if snippet else ""),
            retryable=status in RETRYABLE_STATUS or status >= 500,
        )
    return Answer(status, dict(response.headers), response.content)


def _parse_until(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
