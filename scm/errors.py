"""The one application error type. Every domain error carries data and maps to one HTTP status."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule of the domain refused the operation; nothing was written.

    Subclasses set `code` (machine-readable) and `status` (the HTTP status the API answers with),
    and pass the facts a caller needs in `fields`.
    """

    code = "domain_error"
    status = 400

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
