"""The one application error type. Every domain error carries data and maps to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was written.

    Subclasses set `code` (machine-readable) and `status` (the HTTP status the API answers with),
    and pass the facts a caller needs in `fields`.

    `waits_for` names a piece of missing configuration ("no carrier configured") when that is why
    the operation was refused: nothing is wrong with the request, the system is not set up for it
    yet. A durable workflow meeting such an error waits, under that reason, until the configuration
    exists, instead of compensating (see `orders.workflow_errors`). Empty for every other refusal.
    """

    code = "domain_error"
    status = 400
    waits_for = ""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class NotFound(DomainError):
    code = "not_found"
    status = 404


class ValidationFailed(DomainError):
    code = "invalid"
    status = 400


class Conflict(DomainError):
    code = "conflict"
    status = 409


class TransientConflict(Exception):
    """The database broke a conflict between concurrent transactions (a deadlock, or a serialization
    failure) and retrying did not get through; nothing was written. Not a DomainError on purpose:
    it is no refusal by a rule, and code that treats a DomainError as a final answer (rejecting a
    message, failing a workflow step) must not treat this one so. The caller may simply try again;
    the API answers 503 with `Retry-After` (`retry_after` seconds).
    """

    code = "transient_conflict"
    status = 503
    retryable = True

    def __init__(self, message: str, *, retry_after: int = 1, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.fields = fields
