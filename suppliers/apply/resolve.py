"""Resolving what a supplier's message refers to: products to SKUs, PO numbers to orders and lines,
supplier units to base units. Problems are collected, never raised, so a message is quarantined
naming every one of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from inventory import selectors as inventory_selectors
from suppliers.documents import Document, InventoryAdviceDoc, InvoiceDoc, Origin, PoAckDoc, Product, ShipNoticeDoc
from suppliers.exceptions import BUSINESS, Problem
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierItem

#: Units that are base units ("each"); pack units are multiplied by the supplier item's pack size.
EACH_UNITS = frozenset({"EA", "UN", "PC", "PCS", "EACH"})


PACK_UNITS = frozenset({"CA", "CS", "BX", "PK", "CT", "PL", "PA"})


FIXED_UNITS = {"DZ": 12}


MONEY = Decimal("0.0001")


def problem(
    origin: Origin,
    code: str,
    message: str,
    *,
    value: str | None = None,
    element: str | None = None,
    segment: str | None = None,
) -> Problem:
    where = f"{origin.path}: " if origin.path else ""
    return Problem(
        code=code,
        message=f"{where}{message}",
        kind=BUSINESS,
        segment=segment or origin.segment,
        element=element,
        value=value,
        path=origin.path or None,
        group_control=origin.group_control,
        set_control=origin.set_control,
    )


@dataclass(frozen=True)
class Resolved:
    sku: str
    pack_size: int
    supplier_part: str | None


class Resolver:
    """Looks up what a supplier's ids mean, with a few queries per message (not per line)."""

    def __init__(self, supplier: Supplier, documents: list[Document]) -> None:
        self.supplier = supplier
        ids: set[str] = set()
        skus: set[str] = set()
        po_numbers: set[str] = set()
        for product, po_number in references(documents):
            if product is not None:
                ids.update(v for v in (product.supplier_part, *product.other_ids.values()) if v)
                if product.sku:
                    skus.add(product.sku)
                    ids.add(product.sku)
            if po_number:
                po_numbers.add(po_number)
        self.mappings = {
            m.supplier_part: m for m in SupplierItem.objects.filter(supplier=supplier, supplier_part__in=ids)
        }
        mapped_skus = {m.sku for m in self.mappings.values()}
        self.items = set(inventory_selectors.items().filter(sku__in=skus | mapped_skus).values_list("sku", flat=True))
        self.orders = {
            order.number: order
            for order in PurchaseOrder.objects.filter(number__in=po_numbers).select_related("supplier")
        }
        self.lines: dict[int, list[PurchaseOrderLine]] = defaultdict(list)
        for line in PurchaseOrderLine.objects.filter(purchase_order__in=list(self.orders.values())).order_by("line_no"):
            self.lines[line.purchase_order_id].append(line)
        line_skus = {line.sku for lines in self.lines.values() for line in lines}
        # Pack size and lead time per SKU: from the supplier's first mapping of it (a PO line's own
        # supplier part, when it has one, wins in `mapping_for`).
        self.by_sku: dict[str, SupplierItem] = {}
        for mapping in SupplierItem.objects.filter(supplier=supplier, sku__in=skus | line_skus).order_by("id"):
            self.by_sku.setdefault(mapping.sku, mapping)
            self.mappings.setdefault(mapping.supplier_part, mapping)

    def mapping_for(self, sku: str, supplier_part: str | None = None) -> SupplierItem | None:
        mapping = self.mappings.get(supplier_part) if supplier_part else None
        return mapping if mapping is not None and mapping.sku == sku else self.by_sku.get(sku)

    def pack_size(self, sku: str, supplier_part: str | None = None) -> int:
        mapping = self.mapping_for(sku, supplier_part)
        return mapping.pack_size if mapping else 1

    def lead_time(self, sku: str, supplier_part: str | None = None) -> int:
        mapping = self.mapping_for(sku, supplier_part)
        return mapping.lead_time_days if mapping else 7

    def product(self, product: Product, origin: Origin, line: PurchaseOrderLine | None = None) -> Resolved | Problem:
        """Our SKU for a product: `BP` (our SKU, if it exists), then the supplier part, then other ids
        (UPC, EAN, ...) through the supplier items; a PO line's own supplier part settles the rest."""
        if product.sku and product.sku in self.items:
            return Resolved(product.sku, self.pack_size(product.sku, product.supplier_part), product.supplier_part)
        for value in (product.supplier_part, *product.other_ids.values()):
            mapping = self.mappings.get(value) if value else None
            if mapping is not None:
                if mapping.sku not in self.items:
                    return problem(
                        origin,
                        "unknown_sku",
                        f"supplier part {value!r} maps to SKU {mapping.sku!r}, which does not exist",
                        value=mapping.sku,
                    )
                return Resolved(mapping.sku, mapping.pack_size, value)
        if (
            line is not None
            and line.supplier_part
            and line.supplier_part
            in (
                product.supplier_part,
                *product.other_ids.values(),
            )
        ):
            return Resolved(line.sku, self.pack_size(line.sku, line.supplier_part), line.supplier_part)
        return problem(
            origin,
            "unknown_supplier_part",
            f"{product.describe()} is not a SKU of ours and not mapped to one for supplier {self.supplier.code}; "
            "add a supplier item that maps it to a SKU and reprocess",
            value=product.value(),
        )

    def order(
        self,
        number: str | None,
        origin: Origin,
        allowed: tuple[str, ...],
        what: str,
        *,
        segment: str | None = None,
        element: str | None = None,
    ) -> PurchaseOrder | Problem:
        """The supplier's order by number, in a state the document may act on. `segment`/`element` name
        where an X12 document carries the number (PRF01, BAK03, BIG04)."""
        if not number:
            return problem(
                origin, "missing_purchase_order", f"the {what} names no purchase order number", segment=segment
            )
        order = self.orders.get(number)
        if order is None or order.supplier_id != self.supplier.pk:
            return problem(
                origin,
                "unknown_purchase_order",
                f"purchase order {number!r} does not exist for supplier {self.supplier.code}",
                value=number,
                segment=segment,
                element=element,
            )
        if order.status not in allowed:
            return problem(
                origin,
                "purchase_order_state",
                f"purchase order {number} is {order.status}; a {what} applies to "
                f"{' or '.join(str(s) for s in allowed)} orders",
                value=number,
                segment=segment,
                element=element,
            )
        return order

    def line(
        self, order: PurchaseOrder, line_no: int | None, sku: str, origin: Origin, *, strict_line_no: bool = False
    ) -> PurchaseOrderLine | Problem:
        lines = self.lines.get(order.pk, [])
        if line_no is not None:
            match = next((line for line in lines if line.line_no == line_no), None)
            if match is not None and match.sku == sku:
                return match
            if strict_line_no:
                found = f"is SKU {match.sku}" if match else "does not exist"
                return problem(
                    origin,
                    "purchase_order_line_mismatch",
                    f"line {line_no} of purchase order {order.number} {found}, but the message names SKU {sku}",
                    value=str(line_no),
                )
        match = next((line for line in lines if line.sku == sku), None)
        if match is None:
            return problem(
                origin, "sku_not_on_order", f"purchase order {order.number} has no line for SKU {sku}", value=sku
            )
        return match


def base_units(
    qty: Decimal | None, unit: str | None, resolved: Resolved, origin: Origin, *, minimum: int = 1
) -> int | Problem:
    """A quantity in the supplier's unit as whole base units (EA as is, CA × pack size, DZ × 12)."""
    if qty is None:
        return problem(origin, "missing_quantity", "no quantity given")
    code = (unit or "EA").strip().upper()
    if code in EACH_UNITS:
        factor = 1
    elif code in FIXED_UNITS:
        factor = FIXED_UNITS[code]
    elif code in PACK_UNITS:
        factor = resolved.pack_size
    else:
        return problem(
            origin,
            "unknown_unit",
            f"unit {code!r} is not a base unit ({', '.join(sorted(EACH_UNITS))}) or a pack unit "
            f"({', '.join(sorted(PACK_UNITS | set(FIXED_UNITS)))})",
            value=code,
        )
    value = qty * factor
    if value != value.to_integral_value():
        return problem(
            origin,
            "fractional_quantity",
            f"quantity {qty} {code} is {value} base units, not a whole number",
            value=str(qty),
        )
    if value < minimum:
        return problem(origin, "invalid_quantity", f"quantity {qty} {code} must be at least {minimum}", value=str(qty))
    return int(value)


def references(documents: list[Document]):
    for doc in documents:
        if isinstance(doc, PoAckDoc):
            yield None, doc.po_number
            for line in doc.lines:
                yield line.product, None
        elif isinstance(doc, ShipNoticeDoc):
            for line in doc.lines:
                yield line.product, line.po_number
        elif isinstance(doc, InvoiceDoc):
            yield None, doc.po_number
            for line in doc.lines:
                yield line.product, None
        elif isinstance(doc, InventoryAdviceDoc):
            for item in doc.items:
                yield item.product, None
