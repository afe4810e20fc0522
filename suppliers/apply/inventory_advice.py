"""Supplier inventory advice (846): recorded as an event, no stock of ours changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scm.events.store import NewEvent, append
from suppliers.apply.base import Context, Plan
from suppliers.apply.resolve import Resolver, base_units
from suppliers.documents import InventoryAdviceDoc
from suppliers.exceptions import Problem
from suppliers.services import supplier_stream


@dataclass
class InventoryPlan(Plan):
    doc: InventoryAdviceDoc | None = None
    items: list[dict[str, Any]] = field(default_factory=list)

    def apply(self, ctx: Context) -> dict[str, Any]:
        doc = self.doc
        payload = {
            "supplier": ctx.supplier.code,
            "reference": doc.reference,
            "as_of": doc.advice_date.isoformat() if doc.advice_date else None,
            "message_id": ctx.message_id,
            "items": self.items,
        }
        append(supplier_stream(ctx.supplier.code), [NewEvent(type="SupplierInventoryAdvised", payload=payload)])
        return {"document": "inventory", "items": len(self.items)}


def plan_inventory(doc: InventoryAdviceDoc, r: Resolver, problems: list[Problem]) -> Plan | None:
    plan = InventoryPlan(doc=doc)
    for item in doc.items:
        resolved = r.product(item.product, item.origin)
        if isinstance(resolved, Problem):
            problems.append(resolved)
            continue
        quantities = {}
        for name, qty in item.quantities.items():
            units = base_units(qty, item.unit, resolved, item.origin.child(name), minimum=0)
            if isinstance(units, Problem):
                problems.append(units)
            else:
                quantities[name] = units
        plan.items.append(
            {
                "sku": resolved.sku,
                "supplier_part": resolved.supplier_part,
                "available": quantities.get("available"),
                "quantities": quantities,
            }
        )
    return plan
