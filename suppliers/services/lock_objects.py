"""Row locks the purchase-order services take first, before any event append."""

from __future__ import annotations

from collections.abc import Iterable

from django_fsm import can_proceed

from inventory import selectors as inventory_selectors
from inventory import services as inventory
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


def lock_stock(skus: Iterable[str], location: str) -> None:
    """Lock the stock balances a multi-line operation will touch, in inventory's fixed order, before any
    of its appends (a balance lock taken after an append could deadlock with another appender)."""
    skus = sorted(set(skus))
    if not skus:
        return
    place = inventory_selectors.get_location(location)
    inventory.lock_balances([(inventory_selectors.get_item(sku), place) for sku in skus])
