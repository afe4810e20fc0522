"""Applying canonical documents (acknowledgements, ship notices, invoices, inventory advice, 997s).

Two phases, both inside the message's transaction:

1. `plan_documents` resolves every reference (supplier parts → SKUs, PO numbers → orders, lines,
   units → base units) without writing, and collects *every* problem it finds, so an 856 with three
   unknown part numbers is quarantined naming all three. Any problem → `MessageRejected`.
2. `apply_plans` locks the purchase orders (by id) and the stock balances (inventory's fixed order)
   the plans touch, then writes and appends events. A domain error here rolls the whole message back.

Business rules live here and in `suppliers.services`; the adapters only said what the message says.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory import services as inventory
from scm.events.store import NewEvent, append
from suppliers.documents import (
    AckLineDoc,
    Document,
    FunctionalAckDoc,
    InventoryAdviceDoc,
    InvoiceDoc,
    Origin,
    PoAckDoc,
    Product,
    ShipNoticeDoc,
)
from suppliers.exceptions import BUSINESS, MessageRejected, Problem
from suppliers.models import (
    PO,
    AckStatus,
    InboundMessage,
    MatchStatus,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    ShipNotice,
    ShipNoticeLine,
    Supplier,
    SupplierInvoice,
    SupplierItem,
)
from suppliers.services import lock_stock, open_inbound, open_shipments, supplier_stream

#: Units that are base units ("each"); pack units are multiplied by the supplier item's pack size.
EACH_UNITS = frozenset({"EA", "UN", "PC", "PCS", "EACH"})
PACK_UNITS = frozenset({"CA", "CS", "BX", "PK", "CT", "PL", "PA"})
FIXED_UNITS = {"DZ": 12}
ACKABLE = (PO.SENT, PO.ACKNOWLEDGED)
SHIPPABLE = (PO.SENT, PO.ACKNOWLEDGED, PO.PARTIALLY_RECEIVED)
MONEY = Decimal("0.0001")


def _problem(
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
        for product, po_number in _references(documents):
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
                    return _problem(
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
        return _problem(
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
            return _problem(
                origin, "missing_purchase_order", f"the {what} names no purchase order number", segment=segment
            )
        order = self.orders.get(number)
        if order is None or order.supplier_id != self.supplier.pk:
            return _problem(
                origin,
                "unknown_purchase_order",
                f"purchase order {number!r} does not exist for supplier {self.supplier.code}",
                value=number,
                segment=segment,
                element=element,
            )
        if order.status not in allowed:
            return _problem(
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
                return _problem(
                    origin,
                    "purchase_order_line_mismatch",
                    f"line {line_no} of purchase order {order.number} {found}, but the message names SKU {sku}",
                    value=str(line_no),
                )
        match = next((line for line in lines if line.sku == sku), None)
        if match is None:
            return _problem(
                origin, "sku_not_on_order", f"purchase order {order.number} has no line for SKU {sku}", value=sku
            )
        return match


def base_units(
    qty: Decimal | None, unit: str | None, resolved: Resolved, origin: Origin, *, minimum: int = 1
) -> int | Problem:
    """A quantity in the supplier's unit as whole base units (EA as is, CA × pack size, DZ × 12)."""
    if qty is None:
        return _problem(origin, "missing_quantity", "no quantity given")
    code = (unit or "EA").strip().upper()
    if code in EACH_UNITS:
        factor = 1
    elif code in FIXED_UNITS:
        factor = FIXED_UNITS[code]
    elif code in PACK_UNITS:
        factor = resolved.pack_size
    else:
        return _problem(
            origin,
            "unknown_unit",
            f"unit {code!r} is not a base unit ({', '.join(sorted(EACH_UNITS))}) or a pack unit "
            f"({', '.join(sorted(PACK_UNITS | set(FIXED_UNITS)))})",
            value=code,
        )
    value = qty * factor
    if value != value.to_integral_value():
        return _problem(
            origin,
            "fractional_quantity",
            f"quantity {qty} {code} is {value} base units, not a whole number",
            value=str(qty),
        )
    if value < minimum:
        return _problem(origin, "invalid_quantity", f"quantity {qty} {code} must be at least {minimum}", value=str(qty))
    return int(value)


def _references(documents: list[Document]):
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


# --- Plans ---------------------------------------------------------------------------------------


@dataclass
class Context:
    supplier: Supplier
    message: InboundMessage | None

    @property
    def message_id(self) -> int | None:
        return self.message.pk if self.message else None


@dataclass
class Plan:
    orders: list[PurchaseOrder] = field(default_factory=list)
    skus_at: set[tuple[str, str]] = field(default_factory=set)  # (sku, location) balances it will touch

    def apply(self, ctx: Context) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass
class AckPlan(Plan):
    doc: PoAckDoc | None = None
    order: PurchaseOrder | None = None
    lines: list[tuple[Any, PurchaseOrderLine, int, date, Decimal]] = field(default_factory=list)

    def apply(self, ctx: Context) -> dict[str, Any]:
        order = PurchaseOrder.objects.get(pk=self.order.pk)
        changes = []
        fresh = {line.pk: line for line in order.lines.all()}
        shipments = open_shipments(list(fresh.values()))
        refs = open_inbound(order, fresh.values(), shipments)
        for doc_line, planned, confirmed, expected, price in self.lines:
            line = fresh[planned.pk]
            status = doc_line.status
            if status == "rejected":
                confirmed = 0
            elif confirmed != line.qty or price != line.unit_price:
                status = AckStatus.CHANGED
            line.ack_status = status
            line.ack_code = (doc_line.code or "")[:4]
            line.qty_confirmed = confirmed
            line.confirmed_price = price
            line.expected_date = expected if status != "rejected" else None
            line.save(update_fields=["ack_status", "ack_code", "qty_confirmed", "confirmed_price", "expected_date"])
            on_asn = sum(refs.get(s.inbound_reference, 0) for s in shipments.get(line.pk, []))
            desired = max(confirmed - line.qty_received - on_asn, 0)
            _set_inbound(order, line, refs, desired, expected)
            changes.append(
                {
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "status": status,
                    "code": line.ack_code,
                    "qty_ordered": line.qty,
                    "qty_confirmed": confirmed,
                    "unit_price": str(line.unit_price),
                    "confirmed_price": str(price),
                    "expected_date": expected.isoformat() if status != "rejected" else None,
                    "inbound_expected": desired,
                }
            )
        order.mark_acknowledged()
        order.save()
        payload = {
            "number": order.number,
            "supplier": ctx.supplier.code,
            "message_id": ctx.message_id,
            "rejected": self.doc.rejected,
            "ack_date": self.doc.ack_date.isoformat() if self.doc.ack_date else None,
            "lines": changes,
        }
        append(order.stream, [NewEvent(type="PurchaseOrderAcknowledged", payload=payload)])
        return {"document": "po_ack", "purchase_order": order.number, "lines": len(changes)}


@dataclass
class ShipNoticePlan(Plan):
    """One ship notice; sets of one interchange that repeat its shipment id add their lines to it."""

    doc: ShipNoticeDoc | None = None
    expected_on: date | None = None
    lines: list[tuple[Any, PurchaseOrderLine, str, int, date]] = field(default_factory=list)

    def apply(self, ctx: Context) -> dict[str, Any]:
        doc = self.doc
        notice = ShipNotice.objects.create(
            supplier=ctx.supplier,
            number=doc.number,
            message=ctx.message,
            shipped_on=doc.shipped_on,
            expected_on=self.expected_on,
            carrier=(doc.carrier or "")[:64],
            bill_of_lading=(doc.bill_of_lading or "")[:64],
        )
        orders = {order.pk: PurchaseOrder.objects.get(pk=order.pk) for order in self.orders}
        fresh = {
            line.pk: line
            for line in PurchaseOrderLine.objects.filter(purchase_order__in=list(orders)).select_related(
                "purchase_order"
            )
        }
        refs: dict[str, int] = {}
        for order in orders.values():
            # Only a confirmed line can have supply of its own to move onto the ship notice.
            confirmed = [
                line for line in fresh.values() if line.purchase_order_id == order.pk and line.qty_confirmed is not None
            ]
            refs.update(open_inbound(order, confirmed))
        by_order: dict[int, list[dict]] = defaultdict(list)
        for number, (doc_line, planned, sku, qty, expected_on) in enumerate(self.lines, start=1):
            line = fresh[planned.pk]
            order = orders[line.purchase_order_id]
            shipped = ShipNoticeLine.objects.create(
                notice=notice, line_no=number, po_line=line, sku=sku, qty=qty, pack=(doc_line.pack or "")[:40]
            )
            shipped.notice = notice
            line.qty_shipped += qty
            line.save(update_fields=["qty_shipped"])
            moved = min(qty, refs.get(line.inbound_reference, 0))
            inventory.move_inbound(
                sku=sku,
                location=order.destination,
                from_reference=line.inbound_reference,
                from_qty=moved,
                to_reference=shipped.inbound_reference,
                qty=qty,
                expected_date=expected_on,
                source="asn",
            )
            if moved:
                refs[line.inbound_reference] -= moved
            by_order[order.pk].append(
                {
                    "asn_line_no": number,
                    "po_line_no": line.line_no,
                    "sku": sku,
                    "qty": qty,
                    "inbound_reference": shipped.inbound_reference,
                    "moved_from_po_line": moved,
                    "pack": shipped.pack or None,
                    "expected_on": expected_on.isoformat(),
                }
            )
        for order_id, lines in by_order.items():
            order = orders[order_id]
            append(
                order.stream,
                [
                    NewEvent(
                        type="ShipNoticeReceived",
                        payload={
                            "supplier": ctx.supplier.code,
                            "ship_notice": doc.number,
                            "ship_notice_id": notice.pk,
                            "purchase_order": order.number,
                            "message_id": ctx.message_id,
                            "shipped_on": doc.shipped_on.isoformat() if doc.shipped_on else None,
                            "expected_on": self.expected_on.isoformat(),
                            "carrier": doc.carrier,
                            "bill_of_lading": doc.bill_of_lading,
                            "lines": lines,
                        },
                    )
                ],
            )
        return {
            "document": "asn",
            "ship_notice": doc.number,
            "ship_notice_id": notice.pk,
            "purchase_orders": sorted(orders[pk].number for pk in by_order),
            "lines": len(self.lines),
        }


@dataclass
class InvoicePlan(Plan):
    doc: InvoiceDoc | None = None
    order: PurchaseOrder | None = None
    lines: list[tuple[Any, PurchaseOrderLine | None, str, int, Decimal]] = field(default_factory=list)

    def apply(self, ctx: Context) -> dict[str, Any]:
        doc = self.doc
        order = PurchaseOrder.objects.get(pk=self.order.pk)
        fresh = {line.pk: line for line in order.lines.all()}
        per_line: dict[int, dict[str, Any]] = {}
        unmatched = []
        computed_total = Decimal(0)
        for _doc_line, planned, sku, qty, price in self.lines:
            computed_total += qty * price
            if planned is None:
                unmatched.append({"sku": sku, "qty": qty, "unit_price": str(price)})
                continue
            entry = per_line.setdefault(planned.pk, {"qty": 0, "amount": Decimal(0), "prices": set()})
            entry["qty"] += qty
            entry["amount"] += qty * price
            entry["prices"].add(price)
        findings: list[str] = []
        match_lines = []
        for pk, entry in per_line.items():
            line = fresh[pk]
            ordered = line.qty if line.qty_confirmed is None else line.qty_confirmed
            agreed_price = line.confirmed_price if line.confirmed_price is not None else line.unit_price
            invoiced_total = line.qty_invoiced + entry["qty"]
            line_findings = []
            if invoiced_total > line.qty_received:
                line_findings.append(f"invoiced {invoiced_total} but received {line.qty_received}")
            if invoiced_total > ordered:
                line_findings.append(f"invoiced {invoiced_total} but ordered {ordered}")
            off_price = sorted(p for p in entry["prices"] if p.quantize(MONEY) != agreed_price.quantize(MONEY))
            if off_price:
                line_findings.append(
                    f"price {', '.join(str(p) for p in off_price)} differs from PO price {agreed_price}"
                )
            findings += [f"line {line.line_no} ({line.sku}): {text}" for text in line_findings]
            match_lines.append(
                {
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "ordered_qty": ordered,
                    "po_unit_price": str(agreed_price),
                    "received_qty": line.qty_received,
                    "invoiced_qty": entry["qty"],
                    "invoiced_qty_total": invoiced_total,
                    "invoiced_unit_prices": [str(p) for p in sorted(entry["prices"])],
                    "matched": not line_findings,
                    "findings": line_findings,
                }
            )
            line.qty_invoiced = invoiced_total
            line.invoiced_amount = F("invoiced_amount") + entry["amount"]
            line.save(update_fields=["qty_invoiced", "invoiced_amount"])
        findings += [f"SKU {u['sku']} is not on purchase order {order.number}" for u in unmatched]
        expected_total = computed_total + doc.charges
        if doc.total is not None and (doc.total - expected_total).copy_abs() > Decimal("0.01"):
            stated = f"the lines' {computed_total.quantize(MONEY)}"
            if doc.charges:
                stated += f" plus charges {doc.charges.quantize(MONEY)}"
            findings.append(f"invoice total {doc.total} differs from {stated}")
        if order.status in (PO.DRAFT, PO.CANCELLED):
            findings.append(f"purchase order {order.number} is {order.status}")
        status = MatchStatus.MATCHED if not findings else MatchStatus.MISMATCH
        match = {
            "status": status,
            "lines": match_lines,
            "unmatched": unmatched,
            "findings": findings,
            "charges": str(doc.charges.quantize(MONEY)),
        }
        total = doc.total if doc.total is not None else expected_total
        invoice = SupplierInvoice.objects.create(
            supplier=ctx.supplier,
            number=doc.number,
            purchase_order=order,
            message=ctx.message,
            invoice_date=doc.invoice_date,
            total=total,
            match_status=status,
            match=match,
        )
        append(
            order.stream,
            [
                NewEvent(
                    type="SupplierInvoiced",
                    payload={
                        "supplier": ctx.supplier.code,
                        "invoice_number": doc.number,
                        "invoice_id": invoice.pk,
                        "purchase_order": order.number,
                        "invoice_date": doc.invoice_date.isoformat(),
                        "currency": doc.currency,
                        "total": str(total),
                        "message_id": ctx.message_id,
                        "match": match,
                    },
                )
            ],
        )
        return {"document": "invoice", "invoice": doc.number, "purchase_order": order.number, "match": status}


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


@dataclass
class FunctionalAckPlan(Plan):
    doc: FunctionalAckDoc | None = None

    def apply(self, ctx: Context) -> dict[str, Any]:
        doc = self.doc
        control = int(doc.group_control) if doc.group_control.isdigit() else doc.group_control
        acknowledged = (
            OutboundMessage.objects.select_for_update()
            .filter(supplier=ctx.supplier, gs_control=str(control))
            .exclude(kind=OutboundKind.ACK_997)
            .order_by("-id")
            .first()
        )
        if acknowledged is not None:
            acknowledged.status = OutboundStatus.ACCEPTED if doc.accepted else OutboundStatus.REJECTED
            acknowledged.acknowledged_by = ctx.message
            acknowledged.save(update_fields=["status", "acknowledged_by"])
        payload = {
            "supplier": ctx.supplier.code,
            "functional_id": doc.functional_id,
            "group_control": doc.group_control,
            "status": doc.status,
            "accepted": doc.accepted,
            "sets": [{"code": s.code, "control_number": s.control_number, "status": s.status} for s in doc.sets],
            "outbound_message_id": acknowledged.pk if acknowledged else None,
            "outbound_kind": acknowledged.kind if acknowledged else None,
            "purchase_order": acknowledged.purchase_order.number
            if acknowledged and acknowledged.purchase_order_id
            else None,
            "message_id": ctx.message_id,
        }
        append(supplier_stream(ctx.supplier.code), [NewEvent(type="FunctionalAckReceived", payload=payload)])
        return {"document": "997", "group_control": doc.group_control, "matched": acknowledged is not None}


# --- Planning -----------------------------------------------------------------------------------


def _expected(*candidates: date | None, lead_time_days: int) -> date:
    return next((d for d in candidates if d), None) or timezone.localdate() + timedelta(days=lead_time_days)


def _plan_ack(doc: PoAckDoc, r: Resolver, problems: list[Problem]) -> Plan | None:
    x12 = doc.origin.set_control is not None
    order = r.order(
        doc.po_number,
        doc.origin,
        ACKABLE,
        "purchase order acknowledgement",
        segment="BAK" if x12 else None,
        element="BAK03" if x12 else None,
    )
    if isinstance(order, Problem):
        problems.append(order)
        return None
    plan = AckPlan(doc=doc, order=order, orders=[order])
    seen: set[int] = set()
    doc_lines = list(doc.lines)
    if doc.rejected and not doc_lines:
        # "Rejected, no detail" (BAK02 RJ): every line of the order is rejected.
        doc_lines = [
            AckLineDoc(
                line_no=line.line_no,
                product=Product(),
                status="rejected",
                code="RJ",
                qty=None,
                unit=None,
                unit_price=None,
                expected_date=None,
                origin=doc.origin,
            )
            for line in r.lines.get(order.pk, [])
        ]
    for doc_line in doc_lines:
        line = _ack_line(doc_line, order, r)
        if isinstance(line, Problem):
            problems.append(line)
            continue
        if line.pk in seen:
            problems.append(
                _problem(
                    doc_line.origin,
                    "repeated_line",
                    f"line {line.line_no} is acknowledged twice",
                    value=str(line.line_no),
                )
            )
            continue
        seen.add(line.pk)
        resolved = Resolved(line.sku, r.pack_size(line.sku, line.supplier_part), line.supplier_part or None)
        if doc_line.status == "rejected":
            confirmed: int | Problem = 0
        elif doc_line.qty is None:
            confirmed = line.qty
        else:
            confirmed = base_units(doc_line.qty, doc_line.unit, resolved, doc_line.origin, minimum=0)
        if isinstance(confirmed, Problem):
            problems.append(confirmed)
            continue
        price = doc_line.unit_price
        if price is not None and doc_line.unit and doc_line.unit.upper() in PACK_UNITS and resolved.pack_size > 1:
            price = price / resolved.pack_size
        price = (price if price is not None and price > 0 else line.unit_price).quantize(MONEY)
        expected = _expected(
            doc_line.expected_date,
            doc.expected_date,
            order.requested_date,
            lead_time_days=r.lead_time(line.sku, line.supplier_part),
        )
        plan.lines.append((doc_line, line, confirmed, expected, price))
        plan.skus_at.add((line.sku, order.destination))
    return plan


def _ack_line(doc_line, order: PurchaseOrder, r: Resolver) -> PurchaseOrderLine | Problem:
    lines = r.lines.get(order.pk, [])
    by_no = next((line for line in lines if line.line_no == doc_line.line_no), None)
    if by_no is not None:
        product = doc_line.product
        if not (product.sku or product.supplier_part or product.other_ids):
            return by_no
        resolved = r.product(product, doc_line.origin, line=by_no)
        if isinstance(resolved, Problem):
            return resolved
        if resolved.sku != by_no.sku:
            return _problem(
                doc_line.origin,
                "purchase_order_line_mismatch",
                f"line {by_no.line_no} of purchase order {order.number} is SKU {by_no.sku}, "
                f"but the acknowledgement names {resolved.sku}",
                value=str(doc_line.line_no),
            )
        return by_no
    resolved = r.product(doc_line.product, doc_line.origin)
    if isinstance(resolved, Problem):
        return resolved
    return r.line(order, None, resolved.sku, doc_line.origin)


def _plan_ship_notice(
    doc: ShipNoticeDoc, r: Resolver, problems: list[Problem], seen: dict[str, ShipNoticePlan]
) -> Plan | None:
    """Plan a ship notice. A shipment id already applied is a duplicate; one repeated by another set of
    the same interchange is the same shipment told in parts, so its lines join the first plan."""
    if ShipNotice.objects.filter(supplier=r.supplier, number=doc.number).exists():
        problems.append(
            _problem(
                doc.origin,
                "duplicate_document",
                f"ship notice {doc.number!r} of supplier {r.supplier.code} was already received",
                value=doc.number,
            )
        )
        return None
    transit = settings.SUPPLIER_DEFAULT_TRANSIT_DAYS
    departed = doc.shipped_on or doc.notice_date
    expected = doc.expected_on or (departed + timedelta(days=transit) if departed else None)
    expected = expected or timezone.localdate() + timedelta(days=transit)
    plan = seen.get(doc.number)
    fresh = plan is None
    if plan is None:
        plan = seen[doc.number] = ShipNoticePlan(doc=doc, expected_on=expected)
    orders: dict[int, PurchaseOrder] = {order.pk: order for order in plan.orders}
    for doc_line in doc.lines:
        x12 = doc_line.origin.set_control is not None
        order = r.order(
            doc_line.po_number,
            doc_line.origin,
            SHIPPABLE,
            "ship notice",
            segment="PRF" if x12 else None,
            element="PRF01" if x12 else None,
        )
        resolved = r.product(doc_line.product, doc_line.origin)
        if isinstance(order, Problem) or isinstance(resolved, Problem):
            problems += [p for p in (order, resolved) if isinstance(p, Problem)]
            continue
        line = r.line(order, doc_line.line_no, resolved.sku, doc_line.origin)
        qty = base_units(doc_line.qty, doc_line.unit, resolved, doc_line.origin)
        if isinstance(line, Problem) or isinstance(qty, Problem):
            problems += [p for p in (line, qty) if isinstance(p, Problem)]
            continue
        orders[order.pk] = order
        plan.lines.append((doc_line, line, resolved.sku, qty, expected))
        plan.skus_at.add((resolved.sku, order.destination))
    if not doc.lines:
        problems.append(_problem(doc.origin, "empty_document", f"ship notice {doc.number!r} ships no items"))
    plan.orders = list(orders.values())
    return plan if fresh else None


def _plan_invoice(doc: InvoiceDoc, r: Resolver, problems: list[Problem], numbers: set[str]) -> Plan | None:
    if doc.number in numbers or SupplierInvoice.objects.filter(supplier=r.supplier, number=doc.number).exists():
        problems.append(
            _problem(
                doc.origin,
                "duplicate_document",
                f"invoice {doc.number!r} of supplier {r.supplier.code} was already received",
                value=doc.number,
            )
        )
        return None
    numbers.add(doc.number)
    invoiceable = tuple(s for s in PO.values if s != PO.DRAFT)
    x12 = doc.origin.set_control is not None
    order = r.order(
        doc.po_number,
        doc.origin,
        invoiceable,
        "invoice",
        segment="BIG" if x12 else None,
        element="BIG04" if x12 else None,
    )
    if isinstance(order, Problem):
        problems.append(order)
        return None
    plan = InvoicePlan(doc=doc, order=order, orders=[order])
    for doc_line in doc.lines:
        resolved = r.product(doc_line.product, doc_line.origin)
        if isinstance(resolved, Problem):
            problems.append(resolved)
            continue
        qty = base_units(doc_line.qty, doc_line.unit, resolved, doc_line.origin, minimum=0)
        if isinstance(qty, Problem):
            problems.append(qty)
            continue
        line = r.line(order, doc_line.line_no, resolved.sku, doc_line.origin)
        price = doc_line.unit_price if doc_line.unit_price is not None else Decimal(0)
        if qty and doc_line.qty:
            price = price * doc_line.qty / qty  # price per base unit
        plan.lines.append(
            (doc_line, None if isinstance(line, Problem) else line, resolved.sku, qty, price.quantize(MONEY))
        )
    if not doc.lines:
        problems.append(_problem(doc.origin, "empty_document", f"invoice {doc.number!r} has no lines"))
    return plan


def _plan_inventory(doc: InventoryAdviceDoc, r: Resolver, problems: list[Problem]) -> Plan | None:
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


def plan_documents(documents: list[Document], supplier: Supplier) -> list[Plan]:
    """Resolve every document of a message; raise MessageRejected with all problems, or return plans."""
    resolver = Resolver(supplier, documents)
    problems: list[Problem] = []
    plans: list[Plan | None] = []
    notices: dict[str, ShipNoticePlan] = {}
    invoice_numbers: set[str] = set()
    for doc in documents:
        if isinstance(doc, PoAckDoc):
            plans.append(_plan_ack(doc, resolver, problems))
        elif isinstance(doc, ShipNoticeDoc):
            plans.append(_plan_ship_notice(doc, resolver, problems, notices))
        elif isinstance(doc, InvoiceDoc):
            plans.append(_plan_invoice(doc, resolver, problems, invoice_numbers))
        elif isinstance(doc, InventoryAdviceDoc):
            plans.append(_plan_inventory(doc, resolver, problems))
        elif isinstance(doc, FunctionalAckDoc):
            plans.append(FunctionalAckPlan(doc=doc))
    if problems:
        raise MessageRejected(problems)
    if not documents:
        raise MessageRejected([Problem(code="empty_document", message="the message holds no document to apply")])
    return [plan for plan in plans if plan is not None]


def apply_plans(plans: list[Plan], ctx: Context) -> list[dict[str, Any]]:
    """Lock every purchase order (by id) and stock balance the plans touch, then apply them in order."""
    order_ids = sorted({order.pk for plan in plans for order in plan.orders})
    if order_ids:
        list(PurchaseOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk").values_list("pk"))
    by_location: dict[str, set[str]] = defaultdict(set)
    for plan in plans:
        for sku, location in plan.skus_at:
            by_location[location].add(sku)
    for location in sorted(by_location):
        lock_stock(by_location[location], location)
    return [plan.apply(ctx) for plan in plans]


# --- Inbound supply helpers --------------------------------------------------------------------


def _set_inbound(
    order: PurchaseOrder, line: PurchaseOrderLine, refs: dict[str, int], desired: int, expected: date
) -> None:
    """Make the PO line's own inbound supply `desired` units expected on `expected`."""
    ref = line.inbound_reference
    current = refs.get(ref, 0)
    if desired > current:
        inventory.add_inbound(
            sku=line.sku, location=order.destination, qty=desired - current, reference=ref, expected_date=expected
        )
    elif desired < current:
        inventory.remove_inbound(
            sku=line.sku, location=order.destination, reference=ref, qty=current - desired, reason="supplier_changed"
        )
        if desired:
            inventory.reschedule_inbound(
                sku=line.sku, location=order.destination, reference=ref, expected_date=expected
            )
    elif desired:
        supply = inventory_selectors.inbound_for(sku=line.sku, location=order.destination).filter(reference=ref).first()
        if supply is not None and supply.expected_date != expected:
            inventory.reschedule_inbound(
                sku=line.sku, location=order.destination, reference=ref, expected_date=expected
            )
    refs[ref] = desired
