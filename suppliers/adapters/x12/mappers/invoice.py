"""810 invoices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from suppliers.adapters.x12.documents import Invoice810, InvoiceCharge, InvoiceLine
from suppliers.adapters.x12.mappers.common import (
    Header,
    date_element,
    description,
    line_fields,
    maps,
    missing,
    only_one,
)
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import implied_decimal, integer, required, text
from suppliers.profiles import DocumentProfile


@maps("810", profiled=True)
def map_810(tset: TransactionSet, profile: DocumentProfile) -> Invoice810:
    """An 810 invoice: BIG header, IT1 lines, TDS total (N2: two implied decimals)."""
    big: Segment | None = None
    header = Header(profile=profile)
    lines: list[dict[str, Any]] = []
    total: Decimal | None = None
    line_count: int | None = None
    line_charges: list[InvoiceCharge] = []
    summary_charges: list[InvoiceCharge] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BIG":
            big = only_one(big, segment)
        elif tag == "IT1":
            lines.append({**line_fields(segment, 6), "description": None})
        elif tag == "TDS":
            total = implied_decimal(segment, 1, 2, required=True)
        elif tag == "SAC":
            charge = _charge(segment)
            if charge is not None:
                (summary_charges if total is not None else line_charges).append(charge)
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif lines:
            if tag == "PID":
                lines[-1]["description"] = description(lines[-1]["description"], segment)
        else:
            header.take(segment)
    if big is None:
        raise missing(tset, "BIG", "the invoice header")
    return Invoice810(
        control_number=tset.control_number,
        invoice_date=date_element(big, 1, profile, required=True),
        invoice_number=required(big, 2, "an invoice number"),
        po_date=date_element(big, 3, profile),
        po_number=text(big, 4),
        transaction_type=text(big, 7),
        currency=header.currency,
        references=header.references,
        dates=header.dates,
        parties=header.parties.freeze(),
        lines=tuple(InvoiceLine(**line) for line in lines),
        total_amount=total,
        line_count=line_count,
        charges=tuple(summary_charges or line_charges),
    )


def _charge(segment: Segment) -> InvoiceCharge | None:
    """A SAC allowance or charge with an amount; None for SAC01 N or no SAC05."""
    indicator = text(segment, 1, required=True, what="an allowance or charge indicator")
    amount = implied_decimal(segment, 5, 2)
    if indicator not in ("A", "C") or amount is None:
        return None
    return InvoiceCharge(indicator=indicator, code=text(segment, 2), amount=amount, description=text(segment, 15))
