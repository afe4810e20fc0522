"""Purchase order acknowledgements (855, JSON `po_ack`): confirmed quantities, prices and dates,
and the PO line's inbound supply set to match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory import services as inventory
from scm.events.store import NewEvent, append
from suppliers.apply.base import Context, Plan
from suppliers.apply.resolve import MONEY, Resolved, Resolver, base_units, problem
from suppliers.documents import AckLineDoc, PoAckDoc, Product
from suppliers.exceptions import Problem
from suppliers.models import PO, AckStatus, PurchaseOrder, PurchaseOrderLine
from suppliers.selectors import open_inbound, open_shipments

ACKABLE = (PO.SENT, PO.ACKNOWLEDGED)


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


def _expected(*candidates: date | None, lead_time_days: int) -> date:
    return next((d for d in candidates if d), None) or timezone.localdate() + timedelta(days=lead_time_days)


def plan_ack(doc: PoAckDoc, r: Resolver, problems: list[Problem]) -> Plan | None:
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
    for doc_line in _ack_lines(doc, order, r):
        line = _ack_line(doc_line, order, r)
        if isinstance(line, Problem):
            problems.append(line)
            continue
        if line.pk in seen:
            problems.append(
                problem(
                    doc_line.origin,
                    "repeated_line",
                    f"line {line.line_no} is acknowledged twice",
                    value=str(line.line_no),
                )
            )
            continue
        seen.add(line.pk)
        resolved = Resolved(line.sku, r.pack_size(line.sku, line.supplier_part), line.supplier_part or None, r.profile)
        confirmed = _confirmed_qty(doc_line, line, resolved)
        if isinstance(confirmed, Problem):
            problems.append(confirmed)
            continue
        expected = _expected(
            doc_line.expected_date,
            doc.expected_date,
            order.requested_date,
            lead_time_days=r.lead_time(line.sku, line.supplier_part),
        )
        plan.lines.append((doc_line, line, confirmed, expected, _confirmed_price(doc_line, line, resolved, r)))
        plan.skus_at.add((line.sku, order.destination))
    return plan


def _ack_lines(doc: PoAckDoc, order: PurchaseOrder, r: Resolver) -> list[AckLineDoc]:
    """The acknowledged lines; "rejected, no detail" (BAK02 RJ without lines) rejects every line."""
    if not doc.rejected or doc.lines:
        return list(doc.lines)
    return [
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


def _confirmed_qty(doc_line: AckLineDoc, line: PurchaseOrderLine, resolved: Resolved) -> int | Problem:
    """Base units confirmed: none for a rejected line, the ordered quantity when the ack names none."""
    if doc_line.status == "rejected":
        return 0
    if doc_line.qty is None:
        return line.qty
    return base_units(doc_line.qty, doc_line.unit, resolved, doc_line.origin, minimum=0)


def _confirmed_price(doc_line: AckLineDoc, line: PurchaseOrderLine, resolved: Resolved, r: Resolver) -> Decimal:
    """The confirmed price per base unit (a pack price, in a unit the supplier's profile counts as a
    pack, divided by the pack size); none or zero keeps the order's price."""
    price = doc_line.unit_price
    if price is not None and r.is_pack_unit(doc_line.unit) and resolved.pack_size > 1:
        price = price / resolved.pack_size
    return (price if price is not None and price > 0 else line.unit_price).quantize(MONEY)


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
            return problem(
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


def _set_inbound(
    order: PurchaseOrder, line: PurchaseOrderLine, refs: dict[str, int], desired: int, expected: date
) -> None:
    """Make the PO line's own inbound supply `desired` units expected on `expected`."""
    ref = line.inbound_reference
    current = refs.get(ref, 0)
    if desired > current:
        inventory.inbound_add(
            sku=line.sku, location=order.destination, qty=desired - current, reference=ref, expected_date=expected
        )
    elif desired < current:
        inventory.inbound_remove(
            sku=line.sku, location=order.destination, reference=ref, qty=current - desired, reason="supplier_changed"
        )
        if desired:
            inventory.inbound_reschedule(
                sku=line.sku, location=order.destination, reference=ref, expected_date=expected
            )
    elif desired:
        supply = inventory_selectors.inbound_for(sku=line.sku, location=order.destination).filter(reference=ref).first()
        if supply is not None and supply.expected_date != expected:
            inventory.inbound_reschedule(
                sku=line.sku, location=order.destination, reference=ref, expected_date=expected
            )
    refs[ref] = desired
