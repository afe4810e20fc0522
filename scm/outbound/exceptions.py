"""Errors of the outbound policy. Every one says what was refused or what went wrong, and whether
trying again later can help (`retryable`), so callers classify without parsing messages."""

from __future__ import annotations

from scm.errors import DomainError, ValidationFailed


class OutboundError(DomainError):
    """A call to a partner did not produce a usable answer."""

    code = "outbound_failed"
    status = 502
    retryable = True


class AddressRefused(OutboundError, ValidationFailed):
    """The URL or the address it resolves to is not one we call (scheme, loopback, private, ...).

    Raised at save time (answered 400) and at send time (a failed attempt whose reason is this
    message). Never retryable: the same URL will be refused again.
    """

    code = "outbound_address_refused"
    status = 400
    retryable = False


class CircuitOpen(OutboundError):
    """The partner's breaker is open (or another caller holds the half-open probe): not called."""

    code = "outbound_circuit_open"
    status = 503


class CallFailed(OutboundError):
    """Connection refused or reset, name not resolved, connect timeout, or the answer broke off."""

    code = "outbound_call_failed"


class DeadlineExceeded(OutboundError):
    """The attempt ran past its total budget (a partner that hangs or trickles bytes)."""

    code = "outbound_deadline_exceeded"


class ResponseTooLarge(OutboundError):
    """The answer is larger than the budget's byte cap; reading stopped there.

    `status_code` is the HTTP status the partner answered with, for callers that judge by status
    alone (a webhook receiver's 2xx counts, whatever its body).
    """

    code = "outbound_response_too_large"
    retryable = False

    def __init__(self, message: str, *, status_code: int, **fields) -> None:
        super().__init__(message, status_code=status_code, **fields)
        self.status_code = status_code
