"""What every document plan shares: the message context and the plan's locks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from suppliers.models import InboundMessage, PurchaseOrder, PurchaseOrderLine, Supplier
from suppliers.profiles import MessageProfiles


@dataclass
class Context:
    supplier: Supplier
    message: InboundMessage | None
    profiles: MessageProfiles | None = None
    #: What `apply_plans` locked up front: purchase orders by id, stock balances by (sku, location)
    #: (with their items and locations), so plans neither look them up nor lock them again.
    orders: dict[int, PurchaseOrder] = field(default_factory=dict)
    stock: dict[tuple[str, str], Any] = field(default_factory=dict)
    #: Inbound supply `apply_plans` locked, by reference, when it locked for ship notices only (None: not
    #: locked up front; a plan reads what it needs).
    supplies: dict[str, Any] | None = None

    @property
    def message_id(self) -> int | None:
        return self.message.pk if self.message else None


@dataclass
class Plan:
    orders: list[PurchaseOrder] = field(default_factory=list)
    skus_at: set[tuple[str, str]] = field(default_factory=set)  # (sku, location) balances it will touch
    profile_version: int | None = None  # the supplier profile version the document was planned under
    #: Whether applying reads or writes the orders' existing ship notice lines (an acknowledgement weighs
    #: what is on its way, an invoice what was received); a new ship notice does not.
    touches_shipments: ClassVar[bool] = True

    def po_lines(self) -> list[PurchaseOrderLine]:
        """The purchase order lines applying writes (planning locked them)."""
        return []

    def apply(self, ctx: Context) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError
