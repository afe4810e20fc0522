"""Orders' domain errors."""

from __future__ import annotations

from scm.errors import Conflict, DomainError, NotFound, ValidationFailed


class UnknownCustomer(DomainError):
    code = "unknown_customer"
    status = 422

    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown customer {code!r}.", customer=code)


class OrderNotFound(NotFound):
    code = "order_not_found"

    def __init__(self, order_id: object) -> None:
        super().__init__(f"No order {order_id}.", order=order_id)


class InvalidOrder(ValidationFailed):
    code = "invalid_order"


class DuplicateExternalId(Conflict):
    code = "duplicate_external_id"

    def __init__(self, customer: str, external_id: str, order_id: int) -> None:
        super().__init__(
            f"Customer {customer!r} already has order {external_id!r} (id {order_id}).",
            customer=customer,
            external_id=external_id,
            order=order_id,
        )


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422

    def __init__(self, key: str, order_id: int) -> None:
        super().__init__(
            f"Idempotency key {key!r} was already used for order {order_id} with a different request.",
            idempotency_key=key,
            order=order_id,
        )


class IllegalTransition(Conflict):
    """The order is not in a state that allows this; nothing changed."""

    code = "illegal_transition"

    def __init__(self, order_id: int, status: str, action: str) -> None:
        super().__init__(
            f"Order {order_id} is {status}; cannot {action}.", order=order_id, status=status, action=action
        )
