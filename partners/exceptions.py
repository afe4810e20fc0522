"""Errors of partner transport; each names what was refused and why (scm.errors.DomainError)."""

from __future__ import annotations

from datetime import datetime

from scm.errors import Conflict, DomainError, NotFound, ValidationFailed


class SecretsKeyMissing(DomainError):
    """No PARTNER_SECRETS_KEY outside DEBUG: secrets can be neither stored nor read."""

    code = "partner_secrets_key_missing"
    status = 503


class SecretUnreadable(DomainError):
    """A stored secret does not decrypt with any configured key (the key was rotated away)."""

    code = "partner_secret_unreadable"
    status = 500


class ConnectionInvalid(ValidationFailed):
    code = "partner_connection_invalid"


class ConnectionNotFound(NotFound):
    code = "partner_connection_not_found"


class OutboxEntryNotFound(NotFound):
    code = "outbox_entry_not_found"


class OutboxEntryNotDead(Conflict):
    code = "outbox_entry_not_dead"


class TransportError(Exception):
    """One attempt to reach a partner failed. `retryable` says whether the same bytes may succeed later
    (a timeout, a 503) or never will (a 4xx, an MDN that says the partner refused the message).
    `partner_failed` says whether it counts against the partner's breaker: by default the retryable
    failures do (it did not answer, or answered 5xx), a refusal does not (it is alive), and neither
    does a refusal of ours (the address policy)."""

    def __init__(self, message: str, *, retryable: bool = True, partner_failed: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.partner_failed = retryable if partner_failed is None else partner_failed


class BreakerOpen(TransportError):
    """The partner's circuit (scm.outbound, `transport:<supplier code>`) is open: not called. The
    outbox gives the try back and waits until `until` (None: soon, another caller holds the probe)."""

    def __init__(self, message: str, *, until: datetime | None) -> None:
        super().__init__(message, retryable=True, partner_failed=False)
        self.until = until


class AddressNotAllowed(TransportError):
    """The outbound address policy refused every address the partner's host resolves to (SFTP; HTTP
    calls get the same judgement inside scm.outbound.request). Not called, not the partner's failure,
    never retried: the same address would be refused again until ops allow-list it."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, partner_failed=False)
