"""The three-way match of a supplier invoice: what was invoiced against what was ordered (at the
agreed price) and what was received. A pure function of plain values: no database, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from suppliers.apply.resolve import MONEY
from suppliers.models import PO, MatchStatus

#: How far the invoice's stated total may be from the lines plus charges (rounding by the supplier).
TOTAL_TOLERANCE = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Tolerances:
    """How far a line may be off and still match, in percent (the supplier profile's
    `qty_tolerance_pct` and `price_tolerance_pct`; none by default).

    Quantity: invoiced may exceed received and ordered by up to `qty_pct` of them. Price: an invoiced
    price may differ from the agreed one by up to `price_pct` of the agreed price.
    """

    qty_pct: Decimal = Decimal(0)
    price_pct: Decimal = Decimal(0)

    def qty_limit(self, base: int) -> Decimal:
        return base * (1 + self.qty_pct / HUNDRED)

    def price_ok(self, price: Decimal, agreed: Decimal) -> bool:
        allowed = (agreed * self.price_pct / HUNDRED).quantize(MONEY)
        return (price.quantize(MONEY) - agreed.quantize(MONEY)).copy_abs() <= allowed


@dataclass(frozen=True)
class InvoicedLine:
    """One invoice line in base units; `po_line_id` None when the SKU is not on the order."""

    po_line_id: int | None
    sku: str
    qty: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderedLine:
    """What the purchase order line says before this invoice."""

    line_no: int
    sku: str
    ordered: int
    """The confirmed quantity when the supplier acknowledged one, else the quantity ordered."""
    agreed_price: Decimal
    """The confirmed price when the supplier acknowledged one, else the order's unit price."""
    received: int
    invoiced_before: int


@dataclass(frozen=True)
class LineInvoiced:
    """What the invoice adds to one order line."""

    qty_total: int
    amount: Decimal


@dataclass(frozen=True)
class Match:
    status: str
    lines: list[dict[str, Any]]
    unmatched: list[dict[str, Any]]
    findings: list[str]
    charges: Decimal
    lines_total: Decimal
    invoiced: dict[int, LineInvoiced] = field(default_factory=dict)

    @property
    def expected_total(self) -> Decimal:
        """The lines plus allowances and charges: the invoice total when it states none."""
        return self.lines_total + self.charges

    def payload(self) -> dict[str, Any]:
        """The match as stored on the invoice and carried by SupplierInvoiced."""
        return {
            "status": self.status,
            "lines": self.lines,
            "unmatched": self.unmatched,
            "findings": self.findings,
            "charges": str(self.charges.quantize(MONEY)),
        }


def three_way_match(
    *,
    invoiced: Sequence[InvoicedLine],
    ordered: Mapping[int, OrderedLine],
    stated_total: Decimal | None,
    charges: Decimal,
    order_number: str,
    order_status: str,
    tolerances: Tolerances = Tolerances(),
) -> Match:
    """Match an invoice to its purchase order and receipts.

    A line matches when, with earlier invoices, no more is invoiced than was received nor than was
    ordered, and every price invoiced equals the agreed price. The invoice matches when every line
    does, every SKU is on the order, the stated total equals the lines plus charges (within
    TOTAL_TOLERANCE), and the order is neither a draft nor cancelled. `ordered` maps order line ids
    to their facts; several invoice lines for one order line are added up. `tolerances` (from the
    supplier's profile) widen "no more" and "equals" by a percentage.
    """
    per_line: dict[int, dict[str, Any]] = {}
    unmatched = []
    lines_total = Decimal(0)
    for line in invoiced:
        lines_total += line.qty * line.unit_price
        if line.po_line_id is None:
            unmatched.append({"sku": line.sku, "qty": line.qty, "unit_price": str(line.unit_price)})
            continue
        entry = per_line.setdefault(line.po_line_id, {"qty": 0, "amount": Decimal(0), "prices": set()})
        entry["qty"] += line.qty
        entry["amount"] += line.qty * line.unit_price
        entry["prices"].add(line.unit_price)
    findings: list[str] = []
    match_lines = []
    added = {}
    for pk, entry in per_line.items():
        line = ordered[pk]
        matched = _match_line(line, entry["qty"], entry["prices"], tolerances)
        findings += [f"line {line.line_no} ({line.sku}): {text}" for text in matched["findings"]]
        match_lines.append(matched)
        added[pk] = LineInvoiced(qty_total=matched["invoiced_qty_total"], amount=entry["amount"])
    findings += [f"SKU {u['sku']} is not on purchase order {order_number}" for u in unmatched]
    findings += _order_findings(stated_total, lines_total, charges, order_number, order_status)
    return Match(
        status=MatchStatus.MATCHED if not findings else MatchStatus.MISMATCH,
        lines=match_lines,
        unmatched=unmatched,
        findings=findings,
        charges=charges,
        lines_total=lines_total,
        invoiced=added,
    )


def _match_line(line: OrderedLine, qty: int, prices: set[Decimal], tolerances: Tolerances) -> dict[str, Any]:
    invoiced_total = line.invoiced_before + qty
    findings = []
    if invoiced_total > tolerances.qty_limit(line.received):
        findings.append(f"invoiced {invoiced_total} but received {line.received}")
    if invoiced_total > tolerances.qty_limit(line.ordered):
        findings.append(f"invoiced {invoiced_total} but ordered {line.ordered}")
    off_price = sorted(p for p in prices if not tolerances.price_ok(p, line.agreed_price))
    if off_price:
        findings.append(f"price {', '.join(str(p) for p in off_price)} differs from PO price {line.agreed_price}")
    return {
        "line_no": line.line_no,
        "sku": line.sku,
        "ordered_qty": line.ordered,
        "po_unit_price": str(line.agreed_price),
        "received_qty": line.received,
        "invoiced_qty": qty,
        "invoiced_qty_total": invoiced_total,
        "invoiced_unit_prices": [str(p) for p in sorted(prices)],
        "matched": not findings,
        "findings": findings,
    }


def _order_findings(
    stated_total: Decimal | None, lines_total: Decimal, charges: Decimal, order_number: str, order_status: str
) -> list[str]:
    findings = []
    if stated_total is not None and (stated_total - (lines_total + charges)).copy_abs() > TOTAL_TOLERANCE:
        stated = f"the lines' {lines_total.quantize(MONEY)}"
        if charges:
            stated += f" plus charges {charges.quantize(MONEY)}"
        findings.append(f"invoice total {stated_total} differs from {stated}")
    if order_status in (PO.DRAFT, PO.CANCELLED):
        findings.append(f"purchase order {order_number} is {order_status}")
    return findings
