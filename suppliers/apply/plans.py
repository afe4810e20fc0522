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
from suppliers.models import Supplier
from suppliers.profiles import MessageProfiles
from suppliers.services.lock_objects import lock_notice_stock, lock_order_stock


def plan_documents(
    documents: list[Document], supplier: Supplier, profiles: MessageProfiles | None = None
) -> list[Plan]:
    """Resolve every document of a message (each under the supplier's profile for its type); raise
    MessageRejected with all problems, or return plans."""
    resolver = Resolver(supplier, documents, profiles)
    problems: list[Problem] = []
    plans: list[Plan | None] = []
    notices: dict[str, ShipNoticePlan] = {}
    invoice_numbers: set[str] = set()
    for doc in documents:
        profile = resolver.use(doc)
        count = len(plans)
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
        if len(plans) > count and plans[-1] is not None:
            plans[-1].profile_version = profile.version
    if problems:
        raise MessageRejected(problems)
    if not documents:
        raise MessageRejected([Problem(code="empty_document", message="the message holds no document to apply")])
    return [plan for plan in plans if plan is not None]


def apply_plans(plans: list[Plan], ctx: Context) -> list[dict[str, Any]]:
    """Lock everything the plans touch up front, in the documented order: the purchase orders were
    locked (by id) when planning read them (`Resolver`); then their lines, ship notice lines, the stock
    balances and inbound supply (`lock_order_stock`). Both are handed to the plans on `ctx`, so nothing
    is looked up or locked twice, and no plan takes a lock after another appended. Plans that only add
    new ship notices lock less (`lock_notice_stock`): planning locked the orders' lines, and earlier
    notices are not theirs to touch."""
    ctx.orders = {order.pk: order for plan in plans for order in plan.orders}
    touched = {pair for plan in plans for pair in plan.skus_at}
    if any(plan.touches_shipments for plan in plans):
        ctx.stock = lock_order_stock([ctx.orders[pk] for pk in sorted(ctx.orders)], also=touched)
    else:
        ctx.stock, ctx.supplies = lock_notice_stock([line for plan in plans for line in plan.po_lines()], touched)
    return [_summary(plan, plan.apply(ctx)) for plan in plans]


def _summary(plan: Plan, summary: dict[str, Any]) -> dict[str, Any]:
    """What a plan did, with the profile version it was read and applied under (when it had one)."""
    if plan.profile_version:
        summary["profile_version"] = plan.profile_version
    return summary
