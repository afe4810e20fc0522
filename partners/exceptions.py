"""Errors of partner transport; each names what was refused and why (scm.errors.DomainError)."""

from __future__ import annotations

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
    (a timeout, a 503) or never will (a 4xx, an MDN that says the partner refused the message)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
