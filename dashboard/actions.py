"""The dashboard's write paths: each one gathers what a button sent and calls domain services.

Nothing here touches a model; the suppliers app's service drafts the purchase orders.
"""

from __future__ import annotations

from collections import defaultdict

from dashboard import selectors
from scm.errors import ValidationFailed
from suppliers import services as supplier_services


def draft_purchase_orders(picked: list[selectors.PickedRow]) -> list:
    """One draft purchase order per (supplier, destination) for the ticked suggestion rows.

    Each SKU goes to the supplier that lists it (the first by supplier code when several do); a SKU no
    supplier lists is refused with a clear error before anything is drafted.
    """
    sources = selectors.suppliers_for_skus(sorted({row.sku for row in picked}))
    missing = sorted({row.sku for row in picked if row.sku not in sources})
    if missing:
        raise ValidationFailed(
            f"No supplier lists {', '.join(missing)}; add a supplier part number first.", skus=missing
        )
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in picked:
        supplier, _part = sources[row.sku]
        groups[(supplier, row.location)].append({"sku": row.sku, "qty": row.qty})
    return [
        supplier_services.purchase_order_create_draft(
            supplier=supplier, destination=destination, lines=lines, source="replenishment"
        )
        for (supplier, destination), lines in sorted(groups.items())
    ]
