"""Row locks the purchase-order services take first, before any event append."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django_fsm import can_proceed

from inventory import services as inventory

if TYPE_CHECKING:
    from inventory.models import Balance
from suppliers.exceptions import PurchaseOrderNotFound, PurchaseOrderStateError
from suppliers.models import PurchaseOrder


def lock_order(po_id: int) -> PurchaseOrder:
    order = PurchaseOrder.objects.select_for_update().select_related("supplier").filter(pk=po_id).first()
    if order is None:
        raise PurchaseOrderNotFound(po_id)
    return order


def require_transition(order: PurchaseOrder, transition, action: str) -> None:
    if not can_proceed(transition):
        raise PurchaseOrderStateError(number=order.number, status=order.status, action=action)


def lock_stock(skus: Iterable[str], location: str) -> dict[tuple[str, str], Balance]:
    """Lock the stock balances a multi-line operation will touch, in inventory's fixed order, before any
    of its appends (a balance lock taken after an append could deadlock with another appender).
    Returns them by (sku, location), with their items and locations loaded."""
    return lock_stock_at({(sku, location) for sku in skus})


def lock_stock_at(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Balance]:
    """`lock_stock` for (sku, location) pairs over several locations: one statement, one order."""
    return inventory.lock_balances_by_code(pairs)
