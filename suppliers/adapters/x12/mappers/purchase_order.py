"""850 purchase orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from suppliers.adapters.x12.documents import PurchaseOrder850, PurchaseOrderLine
from suppliers.adapters.x12.mappers.common import (
    Parties,
    add_date,
    add_ref,
    description,
    line_fields,
    maps,
    missing,
    only_one,
)
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import integer, required, required_date, required_number, text


@maps("850")
def map_850(tset: TransactionSet) -> PurchaseOrder850:
    """An 850 purchase order: BEG header, PO1 lines with product IDs, PID descriptions, DTM dates."""
    beg: Segment | None = None
    currency: str | None = None
    references: dict[str, str] = {}
    dates: dict[str, date] = {}
    amounts: dict[str, Decimal] = {}
    parties = Parties()
    lines: list[dict[str, Any]] = []
    line_count: int | None = None
    for segment in tset.body:
        tag = segment.tag
        if tag == "BEG":
            beg = only_one(beg, segment)
        elif tag == "PO1":
            lines.append({**line_fields(segment, 6), "description": None, "dates": {}})
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif tag == "AMT":
            amounts.setdefault(required(segment, 1, "an amount qualifier"), required_number(segment, 2, "an amount"))
        elif lines:
            if tag == "PID":
                lines[-1]["description"] = description(lines[-1]["description"], segment)
            elif tag == "DTM":
                add_date(lines[-1]["dates"], segment)
        elif tag == "CUR":
            currency = text(segment, 2)
        elif tag == "REF":
            add_ref(references, segment)
        elif tag == "DTM":
            add_date(dates, segment)
        else:
            parties.take(segment)
    if beg is None:
        raise missing(tset, "BEG", "the purchase order header")
    return PurchaseOrder850(
        control_number=tset.control_number,
        purpose=required(beg, 1, "a purpose code"),
        order_type=text(beg, 2),
        po_number=required(beg, 3, "a purchase order number"),
        release=text(beg, 4),
        po_date=required_date(beg, 5),
        currency=currency,
        references=references,
        dates=dates,
        parties=parties.freeze(),
        lines=tuple(PurchaseOrderLine(**line) for line in lines),
        line_count=line_count,
        amounts=amounts,
    )
