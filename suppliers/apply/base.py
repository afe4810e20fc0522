"""What every document plan shares: the message context and the plan's locks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from suppliers.models import InboundMessage, PurchaseOrder, Supplier
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

    @property
    def message_id(self) -> int | None:
        return self.message.pk if self.message else None


@dataclass
class Plan:
    orders: list[PurchaseOrder] = field(default_factory=list)
    skus_at: set[tuple[str, str]] = field(default_factory=set)  # (sku, location) balances it will touch
    profile_version: int | None = None  # the supplier profile version the document was planned under

    def apply(self, ctx: Context) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError
