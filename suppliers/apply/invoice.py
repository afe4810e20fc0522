"""Supplier invoices (810, JSON `invoice`), checked against the order and what was received
(the three-way match).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import F

from scm.events.store import NewEvent, append
from suppliers.apply.base import Context, Plan
from suppliers.apply.matching import InvoicedLine, OrderedLine, Tolerances, three_way_match
from suppliers.apply.resolve import MONEY, Resolver, base_units, problem
from suppliers.documents import InvoiceDoc
from suppliers.exceptions import Problem
from suppliers.models import PO, PurchaseOrder, PurchaseOrderLine, SupplierInvoice


@dataclass
class InvoicePlan(Plan):
    doc: InvoiceDoc | None = None
    order: PurchaseOrder | None = None
    lines: list[tuple[Any, PurchaseOrderLine | None, str, int, Decimal]] = field(default_factory=list)
    tolerances: Tolerances = field(default_factory=Tolerances)

    def apply(self, ctx: Context) -> dict[str, Any]:
        doc = self.doc
        order = PurchaseOrder.objects.get(pk=self.order.pk)
        fresh = {line.pk: line for line in order.lines.all()}
        match = three_way_match(
            invoiced=[
                InvoicedLine(po_line_id=planned.pk if planned else None, sku=sku, qty=qty, unit_price=price)
                for _doc_line, planned, sku, qty, price in self.lines
            ],
            ordered={pk: _ordered(line) for pk, line in fresh.items()},
            stated_total=doc.total,
            charges=doc.charges,
            order_number=order.number,
            order_status=order.status,
            tolerances=self.tolerances,
        )
        for pk, added in match.invoiced.items():
            line = fresh[pk]
            line.qty_invoiced = added.qty_total
            line.invoiced_amount = F("invoiced_amount") + added.amount
            line.save(update_fields=["qty_invoiced", "invoiced_amount"])
        total = doc.total if doc.total is not None else match.expected_total
        invoice = SupplierInvoice.objects.create(
            supplier=ctx.supplier,
            number=doc.number,
            purchase_order=order,
            message=ctx.message,
            invoice_date=doc.invoice_date,
            total=total,
            match_status=match.status,
            match=match.payload(),
        )
        payload = {
            "supplier": ctx.supplier.code,
            "invoice_number": doc.number,
            "invoice_id": invoice.pk,
            "purchase_order": order.number,
            "invoice_date": doc.invoice_date.isoformat(),
            "currency": doc.currency,
            "total": str(total),
            "message_id": ctx.message_id,
            "match": match.payload(),
        }
        append(order.stream, [NewEvent(type="SupplierInvoiced", payload=payload)])
        return {"document": "invoice", "invoice": doc.number, "purchase_order": order.number, "match": match.status}


def _ordered(line: PurchaseOrderLine) -> OrderedLine:
    return OrderedLine(
        line_no=line.line_no,
        sku=line.sku,
        ordered=line.qty if line.qty_confirmed is None else line.qty_confirmed,
        agreed_price=line.confirmed_price if line.confirmed_price is not None else line.unit_price,
        received=line.qty_received,
        invoiced_before=line.qty_invoiced,
    )


def plan_invoice(doc: InvoiceDoc, r: Resolver, problems: list[Problem], numbers: set[str]) -> Plan | None:
    if doc.number in numbers or SupplierInvoice.objects.filter(supplier=r.supplier, number=doc.number).exists():
        problems.append(
            problem(
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
    plan = InvoicePlan(
        doc=doc,
        order=order,
        orders=[order],
        tolerances=Tolerances(qty_pct=r.profile.qty_tolerance, price_pct=r.profile.price_tolerance),
    )
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
        problems.append(problem(doc.origin, "empty_document", f"invoice {doc.number!r} has no lines"))
    return plan
