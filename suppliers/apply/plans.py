"""Planning and applying every document of one message (see the package docstring)."""

from __future__ import annotations

from typing import Any

from suppliers.apply.base import Context, Plan
from suppliers.apply.functional_ack import FunctionalAckPlan
from suppliers.apply.inventory_advice import plan_inventory
from suppliers.apply.invoice import plan_invoice
from suppliers.apply.po_ack import plan_ack
from suppliers.apply.resolve import Resolver
from suppliers.apply.ship_notice import ShipNoticePlan, plan_ship_notice
from suppliers.documents import Document, FunctionalAckDoc, InventoryAdviceDoc, InvoiceDoc, PoAckDoc, ShipNoticeDoc
from suppliers.exceptions import MessageRejected, Problem
from suppliers.models import PurchaseOrder, Supplier
from suppliers.services import lock_order_stock


def plan_documents(documents: list[Document], supplier: Supplier) -> list[Plan]:
    """Resolve every document of a message; raise MessageRejected with all problems, or return plans."""
    resolver = Resolver(supplier, documents)
    problems: list[Problem] = []
    plans: list[Plan | None] = []
    notices: dict[str, ShipNoticePlan] = {}
    invoice_numbers: set[str] = set()
    for doc in documents:
        if isinstance(doc, PoAckDoc):
            plans.append(plan_ack(doc, resolver, problems))
        elif isinstance(doc, ShipNoticeDoc):
            plans.append(plan_ship_notice(doc, resolver, problems, notices))
        elif isinstance(doc, InvoiceDoc):
            plans.append(plan_invoice(doc, resolver, problems, invoice_numbers))
        elif isinstance(doc, InventoryAdviceDoc):
            plans.append(plan_inventory(doc, resolver, problems))
        elif isinstance(doc, FunctionalAckDoc):
            plans.append(FunctionalAckPlan(doc=doc))
    if problems:
        raise MessageRejected(problems)
    if not documents:
        raise MessageRejected([Problem(code="empty_document", message="the message holds no document to apply")])
    return [plan for plan in plans if plan is not None]


def apply_plans(plans: list[Plan], ctx: Context) -> list[dict[str, Any]]:
    """Lock every purchase order (by id) the plans touch, with their lines, ship notice lines, stock
    balances and inbound supply (`lock_order_stock`), then apply the plans in order: no plan takes a
    lock after another appended."""
    order_ids = sorted({order.pk for plan in plans for order in plan.orders})
    orders = list(PurchaseOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
    lock_order_stock(orders, also={pair for plan in plans for pair in plan.skus_at})
    return [plan.apply(ctx) for plan in plans]
