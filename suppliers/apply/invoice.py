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
from suppliers.apply.resolve import MONEY, Resolver, base_units, problem
from suppliers.documents import InvoiceDoc
from suppliers.exceptions import Problem
from suppliers.models import PO, MatchStatus, PurchaseOrder, PurchaseOrderLine, SupplierInvoice


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
        problems.append(problem(doc.origin, "empty_document", f"invoice {doc.number!r} has no lines"))
    return plan
