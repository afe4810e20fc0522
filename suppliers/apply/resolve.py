"""Resolving what a supplier's message refers to: products to SKUs, PO numbers to orders and lines,
supplier units to base units. Problems are collected, never raised, so a message is quarantined
naming every one of them.

The supplier's profile for the document being planned (`Resolver.use(doc)`) says which product
qualifiers to trust in which order, how part numbers are normalised, and how its unit codes map to
ours; without one the defaults below apply.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from inventory.models import Item
from scm import raw_sql
from suppliers.documents import Document, InventoryAdviceDoc, InvoiceDoc, Origin, PoAckDoc, Product, ShipNoticeDoc
from suppliers.exceptions import BUSINESS, Problem
from suppliers.models import PurchaseOrder, PurchaseOrderLine, Supplier, SupplierItem
from suppliers.profiles import NO_PROFILE, DocumentProfile, MessageProfiles, defaults, profile_document_type
from suppliers.profiles.reading import OUR_SKU
from suppliers.profiles.settings import PACK

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
    profile: DocumentProfile = NO_PROFILE


class Resolver:
    """Looks up what a supplier's ids mean, with a few queries per message (not per line)."""

    def __init__(self, supplier: Supplier, documents: list[Document], profiles: MessageProfiles | None = None) -> None:
        self.supplier = supplier
        self.profiles = profiles or defaults()
        self.profile = NO_PROFILE
        self._normalised: dict[str, dict[str, SupplierItem]] = {}
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
        self.orders = _locked_orders(supplier, po_numbers)
        # Their lines next, locked in one statement (id order) right after the orders, as the lock order
        # has it: applying writes them (shipped and confirmed quantities) and locks nothing else above stock.
        self.lines: dict[int, list[PurchaseOrderLine]] = defaultdict(list)
        by_id = {order.pk: order for order in self.orders.values()}
        for line in sorted(_locked_lines(by_id), key=lambda line: line.line_no):
            line.purchase_order = by_id[line.purchase_order_id]
            self.lines[line.purchase_order_id].append(line)
        line_skus = {line.sku for lines in self.lines.values() for line in lines}
        # One query for the supplier's items named by part number and those of the SKUs involved. Pack
        # size and lead time per SKU come from the supplier's first mapping of it (a PO line's own
        # supplier part, when it has one, wins in `mapping_for`).
        self.mappings: dict[str, SupplierItem] = {}
        self.by_sku: dict[str, SupplierItem] = {}
        for mapping in _supplier_items(supplier, ids, skus | line_skus):
            if mapping.supplier_part in ids:
                self.mappings[mapping.supplier_part] = mapping
            if mapping.sku in skus or mapping.sku in line_skus:
                self.by_sku.setdefault(mapping.sku, mapping)
        mapped_skus = {m.sku for m in self.mappings.values()}
        for mapping in self.by_sku.values():
            self.mappings.setdefault(mapping.supplier_part, mapping)
        #: Our SKUs that exist, with the item's pack size (the fallback when no supplier item gives one).
        self.items: dict[str, int] = _pack_sizes(skus | mapped_skus | line_skus)

    def mapping_for(self, sku: str, supplier_part: str | None = None) -> SupplierItem | None:
        mapping = self.mappings.get(supplier_part) if supplier_part else None
        return mapping if mapping is not None and mapping.sku == sku else self.by_sku.get(sku)

    def pack_size(self, sku: str, supplier_part: str | None = None) -> int:
        """Base units in one pack: the supplier item's pack size, else (when it says 1) the item's."""
        mapping = self.mapping_for(sku, supplier_part)
        if mapping is not None and mapping.pack_size > 1:
            return mapping.pack_size
        return self.items.get(sku, 1)

    def use(self, doc: Document) -> DocumentProfile:
        """Plan `doc` under the supplier's profile for its document type (from here until the next `use`)."""
        kind = getattr(doc, "kind", "")
        self.profile = self.profiles.document(kind) if profile_document_type(kind) else NO_PROFILE
        return self.profile

    def _mapping(self, value: str) -> SupplierItem | None:
        """The supplier item for a part number, compared after the profile's normalisation."""
        profile = self.profile
        if not profile.normalises_parts:
            return self.mappings.get(value)
        table = self._normalised.get(profile.document_type)
        if table is None:
            table = {}
            for mapping in SupplierItem.objects.filter(supplier=self.supplier).order_by("id"):
                table.setdefault(profile.normalise_part(mapping.supplier_part), mapping)
            self._normalised[profile.document_type] = table
        return table.get(profile.normalise_part(value))

    def lead_time(self, sku: str, supplier_part: str | None = None) -> int:
        mapping = self.mapping_for(sku, supplier_part)
        return mapping.lead_time_days if mapping else 7

    def product(self, product: Product, origin: Origin, line: PurchaseOrderLine | None = None) -> Resolved | Problem:
        """Our SKU for a product: `BP` (our SKU, if it exists), then the supplier part, then other ids
        (UPC, EAN, ...) through the supplier items; a PO line's own supplier part settles the rest.
        A profile with product qualifiers trusts only those, in its order."""
        profile = self.profile
        trusted = profile.product_candidates(product.sku, product.supplier_part, product.other_ids)
        if trusted is None:
            if product.sku and product.sku in self.items:
                return self._resolved(product.sku, product.supplier_part)
            trusted = [(None, value) for value in (product.supplier_part, *product.other_ids.values()) if value]
        for qualifier, value in trusted:
            if qualifier == OUR_SKU:
                if value in self.items:
                    return self._resolved(value, product.supplier_part)
                continue
            mapping = self._mapping(value)
            if mapping is not None:
                if mapping.sku not in self.items:
                    return problem(
                        origin,
                        "unknown_sku",
                        f"supplier part {value!r} maps to SKU {mapping.sku!r}, which does not exist",
                        value=mapping.sku,
                    )
                pack = mapping.pack_size if mapping.pack_size > 1 else self.items.get(mapping.sku, 1)
                return Resolved(mapping.sku, pack, value, profile)
        if (
            line is not None
            and line.supplier_part
            and line.supplier_part
            in (
                product.supplier_part,
                *product.other_ids.values(),
            )
        ):
            return self._resolved(line.sku, line.supplier_part)
        trusting = (
            f" (its {profile.label} trusts {', '.join(profile.settings.product_qualifiers)} only)"
            if profile.settings.product_qualifiers
            else ""
        )
        return problem(
            origin,
            "unknown_supplier_part",
            f"{product.describe()} is not a SKU of ours and not mapped to one for supplier {self.supplier.code}"
            f"{trusting}; add a supplier item that maps it to a SKU and reprocess",
            value=product.value(),
        )

    def _resolved(self, sku: str, supplier_part: str | None) -> Resolved:
        return Resolved(sku, self.pack_size(sku, supplier_part), supplier_part, self.profile)

    def is_pack_unit(self, unit: str | None) -> bool:
        """Whether a supplier unit is a pack (its price is per pack, not per base unit)."""
        code = self.profile.unit_code((unit or "").strip().upper())
        factor = self.profile.unit_factor(code)
        return factor == PACK or (factor is None and code in PACK_UNITS)

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


# The reads below run once per inbound message, in SQL: the ORM's query building costs several times
# what the database takes to answer them (docs/PERFORMANCE.md, 856 ingestion).


def _locked_orders(supplier: Supplier, numbers: set[str]) -> dict[str, PurchaseOrder]:
    """The orders named, locked by id before their lines are read: what planning sees of them (confirmed
    and shipped quantities) is what applying will change, and nothing locks them again."""
    if not numbers:
        return {}
    rows = raw_sql.fetch(
        PurchaseOrder, f"WHERE number IN {raw_sql.in_list(numbers)} ORDER BY id{raw_sql.for_update()}", sorted(numbers)
    )
    orders = {}
    for order in rows:
        if order.supplier_id == supplier.pk:
            order.supplier = supplier
        orders[order.number] = order
    return orders


def _locked_lines(orders: dict[int, PurchaseOrder]) -> list[PurchaseOrderLine]:
    if not orders:
        return []
    return raw_sql.fetch(
        PurchaseOrderLine,
        f"WHERE purchase_order_id IN {raw_sql.in_list(orders)} ORDER BY id{raw_sql.for_update()}",
        sorted(orders),
    )


def _supplier_items(supplier: Supplier, parts: set[str], skus: set[str]) -> list[SupplierItem]:
    """The supplier's items with one of these part numbers or SKUs, in id order."""
    named = [(column, sorted(values)) for column, values in (("supplier_part", parts), ("sku", skus)) if values]
    if not named:
        return []
    where = " OR ".join(f"{column} IN {raw_sql.in_list(values)}" for column, values in named)
    return raw_sql.fetch(
        SupplierItem,
        f"WHERE supplier_id = %s AND ({where}) ORDER BY id",
        [supplier.pk, *(value for _, values in named for value in values)],
    )


def _pack_sizes(skus: set[str]) -> dict[str, int]:
    if not skus:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sku, pack_size FROM {raw_sql.table(Item)} WHERE sku IN {raw_sql.in_list(skus)}", sorted(skus)
        )
        return dict(cursor.fetchall())


def base_units(
    qty: Decimal | None, unit: str | None, resolved: Resolved, origin: Origin, *, minimum: int = 1
) -> int | Problem:
    """A quantity in the supplier's unit as whole base units (EA as is, CA × pack size, DZ × 12).
    The profile first maps the supplier's unit code to ours, and may define factors of its own."""
    if qty is None:
        return problem(origin, "missing_quantity", "no quantity given")
    profile = resolved.profile
    sent = (unit or "EA").strip().upper()
    code = profile.unit_code(sent)
    factor = profile.unit_factor(code)
    if factor == PACK or (factor is None and code in PACK_UNITS):
        factor = resolved.pack_size
    elif factor is None and code in EACH_UNITS:
        factor = 1
    elif factor is None and code in FIXED_UNITS:
        factor = FIXED_UNITS[code]
    elif factor is None:
        alias = f" (the profile reads {sent!r} as {code!r})" if code != sent else ""
        return problem(
            origin,
            "unknown_unit",
            f"unit {code!r}{alias} is not a base unit ({', '.join(sorted(EACH_UNITS))}) or a pack unit "
            f"({', '.join(sorted(PACK_UNITS | set(FIXED_UNITS)))}); map it in the supplier's profile",
            value=sent,
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
