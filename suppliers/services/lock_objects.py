"""Row locks the purchase-order services take first, before any event append.

The order (docs/ARCHITECTURE.md, "Lock order"): purchase orders (id order), their lines, their ship
notice lines, then stock: balances, then inbound supply records (inventory's fixed orders).
"""

from __future__ import annotations

from collections.abc import Iterable

from django_fsm import can_proceed

from inventory import services as inventory
from inventory.models import Balance, InboundSupply
from suppliers.exceptions import PurchaseOrderNotFound, PurchaseOrderStateError
from suppliers.models import PurchaseOrder, PurchaseOrderLine, ShipNoticeLine, Supplier


def lock_supplier_of(po_id: int) -> None:
    """Lock the purchase order's supplier row (before the order: suppliers come first in the lock order)."""
    supplier_id = PurchaseOrder.objects.filter(pk=po_id).values_list("supplier_id", flat=True).first()
    if supplier_id is None:
        raise PurchaseOrderNotFound(po_id)
    list(Supplier.objects.select_for_update().filter(pk=supplier_id).values_list("pk"))


def lock_order(po_id: int) -> PurchaseOrder:
    """The purchase order row only (its supplier is read, not locked)."""
    order = PurchaseOrder.objects.select_for_update(of=("self",)).select_related("supplier").filter(pk=po_id).first()
    if order is None:
        raise PurchaseOrderNotFound(po_id)
    return order


def require_transition(order: PurchaseOrder, transition, action: str) -> None:
    if not can_proceed(transition):
        raise PurchaseOrderStateError(number=order.number, status=order.status, action=action)


def lock_order_stock(
    orders: Iterable[PurchaseOrder], *, also: Iterable[tuple[str, str]] = ()
) -> dict[tuple[str, str], Balance]:
    """After the purchase orders themselves: lock their lines, their ship notice lines, the balances of
    their SKUs at their destinations (plus the (sku, location) pairs in `also`), and every inbound supply
    record under their lines' and notice lines' references. One statement per kind, each in its order.
    Returns the locked balances by (sku, location), with their items and locations loaded."""
    destination = {order.pk: order.destination for order in orders}
    lines = list(
        PurchaseOrderLine.objects.select_for_update(of=("self",))
        .select_related("purchase_order")
        .filter(purchase_order_id__in=sorted(destination))
        .order_by("pk")
    )
    notice_lines = list(
        ShipNoticeLine.objects.select_for_update(of=("self",))
        .select_related("notice__supplier", "po_line")
        .filter(po_line__in=[line.pk for line in lines])
        .order_by("pk")
    )
    wanted = [(line.sku, destination[line.purchase_order_id], line.inbound_reference) for line in lines]
    wanted += [(n.sku, destination[n.po_line.purchase_order_id], n.inbound_reference) for n in notice_lines]
    balances = inventory.lock_balances_by_code({(sku, location) for sku, location, _ in wanted} | set(also))
    supplies = [(balances[sku, place].item, balances[sku, place].location, ref) for sku, place, ref in wanted]
    inventory.lock_supplies(supplies, must_exist=False)
    return balances


def lock_notice_stock(
    lines: Iterable[PurchaseOrderLine], pairs: Iterable[tuple[str, str]]
) -> tuple[dict[tuple[str, str], Balance], dict[str, InboundSupply]]:
    """What applying a new ship notice locks after its purchase orders and their `lines` (planning
    locked both): the balances of the (sku, location) `pairs` it ships, then the inbound supply of those
    of its lines that were confirmed (only a confirmed line has supply of its own). A new notice neither
    reads nor writes the orders' earlier ship notice lines or their supply, so unlike `lock_order_stock`
    it leaves them alone: its cost does not grow with every notice an order has had.
    Returns the balances by (sku, location), with items and locations, and the supplies by reference."""
    balances = inventory.lock_balances_by_code(set(pairs))
    wanted = []
    for line in lines:
        if line.qty_confirmed is not None:
            balance = balances[line.sku, line.purchase_order.destination]
            wanted.append((balance.item, balance.location, line.inbound_reference))
    supplies = inventory.lock_supplies(wanted, must_exist=False)
    return balances, {reference: supply for (_, _, reference), supply in supplies.items()}


def lock_stock(skus: Iterable[str], location: str) -> dict[tuple[str, str], Balance]:
    """Lock the stock balances a multi-line operation will touch, in inventory's fixed order, before any
    of its appends (a balance lock taken after an append could deadlock with another appender).
    Returns them by (sku, location), with their items and locations loaded."""
    return lock_stock_at({(sku, location) for sku in skus})


def lock_stock_at(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Balance]:
    """`lock_stock` for (sku, location) pairs over several locations: one statement, one order."""
    return inventory.lock_balances_by_code(pairs)
