"""Inventory's domain errors. Each names the facts behind the refusal; none leaves anything written."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from scm.errors import Conflict, DomainError, NotFound, ValidationFailed


class UnknownSku(DomainError):
    code = "unknown_sku"
    status = 422

    def __init__(self, sku: str) -> None:
        super().__init__(f"Unknown SKU {sku!r}.", sku=sku)


class UnknownLocation(DomainError):
    code = "unknown_location"
    status = 422

    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown location {code!r}.", location=code)


class InvalidQuantity(ValidationFailed):
    code = "invalid_quantity"

    def __init__(self, quantity: object, rule: str) -> None:
        super().__init__(f"Quantity {quantity!r} is not allowed: {rule}.", qty=quantity)


class SameLocationTransfer(ValidationFailed):
    code = "same_location_transfer"

    def __init__(self, location: str) -> None:
        super().__init__(f"A transfer needs two different locations; got {location!r} twice.", location=location)


@dataclass(frozen=True)
class Shortfall:
    sku: str
    location: str
    requested: int
    available: int


class InsufficientStock(Conflict):
    """One or more balances cannot cover what was asked; every shortfall is listed."""

    code = "insufficient_stock"

    def __init__(self, shortfalls: list[Shortfall]) -> None:
        self.shortfalls = shortfalls
        parts = [f"{s.sku}@{s.location}: requested {s.requested}, available {s.available}" for s in shortfalls]
        super().__init__("Insufficient stock: " + "; ".join(parts), shortfalls=[asdict(s) for s in shortfalls])


class BelowReserved(Conflict):
    """The change would leave fewer units on hand than are promised to reservations."""

    code = "below_reserved"

    def __init__(self, *, sku: str, location: str, on_hand_after: int, reserved: int) -> None:
        super().__init__(
            f"{sku}@{location}: on hand would become {on_hand_after}, below the {reserved} reserved; "
            "release reservations first.",
            sku=sku,
            location=location,
            on_hand_after=on_hand_after,
            reserved=reserved,
        )


class ReservationNotFound(NotFound):
    code = "reservation_not_found"

    def __init__(self, holder: str, sku: str, location: str) -> None:
        super().__init__(
            f"No reservation for {holder!r} on {sku}@{location}.", holder=holder, sku=sku, location=location
        )


class ReservationTooSmall(Conflict):
    code = "reservation_too_small"

    def __init__(self, *, holder: str, sku: str, location: str, requested: int, held: int) -> None:
        super().__init__(
            f"{holder!r} holds {held} of {sku}@{location}, cannot take {requested}.",
            holder=holder,
            sku=sku,
            location=location,
            requested=requested,
            held=held,
        )


class InboundSupplyNotFound(NotFound):
    code = "inbound_supply_not_found"

    def __init__(self, reference: str, sku: str, location: str) -> None:
        super().__init__(
            f"No inbound supply {reference!r} for {sku}@{location}.", reference=reference, sku=sku, location=location
        )


class InboundSupplyTooSmall(Conflict):
    code = "inbound_supply_too_small"

    def __init__(self, *, reference: str, requested: int, expected: int) -> None:
        super().__init__(
            f"Inbound supply {reference!r} expects {expected}, cannot remove {requested}.",
            reference=reference,
            requested=requested,
            expected=expected,
        )


class UnknownReasonCode(ValidationFailed):
    code = "unknown_reason_code"

    def __init__(self, reason: str, allowed: list[str]) -> None:
        super().__init__(f"Unknown adjustment reason {reason!r}; use one of {', '.join(allowed)}.", reason=reason)
