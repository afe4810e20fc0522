"""Readers of the X12 messages we write (850 purchase orders, 824 application advice): the tests read
our output back with them, and read the 850 samples. Production never reads an 850 or an 824, so
these live here, beside the tests, built on the production mappers' shared helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from suppliers.adapters.x12 import map_810, map_846, map_855, map_856, map_997
from suppliers.adapters.x12.documents import Party
from suppliers.adapters.x12.mappers.common import (
    Header,
    add_date,
    description,
    line_fields,
    maps,
    missing,
    only_one,
)
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import integer, required, required_date, required_number, text


@dataclass(frozen=True)
class PurchaseOrderLine:
    """A PO1 line of an 850."""

    line_number: str | None
    quantity: Decimal | None
    unit: str | None
    unit_price: Decimal | None
    price_basis: str | None
    product_ids: dict[str, str]
    description: str | None = None
    dates: dict[str, date] = field(default_factory=dict)
    ordinal: int = 0


@dataclass(frozen=True)
class PurchaseOrder850:
    """An 850 purchase order (ours read back, or a sample)."""

    control_number: str
    purpose: str
    order_type: str | None
    po_number: str
    release: str | None
    po_date: date
    currency: str | None
    references: dict[str, str]
    dates: dict[str, date]
    parties: tuple[Party, ...]
    lines: tuple[PurchaseOrderLine, ...]
    line_count: int | None
    amounts: dict[str, Decimal]


@dataclass(frozen=True)
class AdviceError:
    """A TED loop: error condition code (``024`` other, ``007`` missing data, ...), the text (TED02
    continued in NTE segments), and where in the original set it happened."""

    code: str
    message: str
    segment: str | None
    ordinal: int | None
    element: int | None
    value: str | None


@dataclass(frozen=True)
class AdviceItem:
    """An OTI loop: what happened (``TR`` rejected, ``TA`` accepted, ``TE`` accepted with errors) to
    which original transaction set."""

    action: str
    reference_qualifier: str
    reference_id: str
    sender: str | None
    receiver: str | None
    group_control: str | None
    set_control: str | None
    set_code: str | None
    errors: tuple[AdviceError, ...]


@dataclass(frozen=True)
class ApplicationAdvice824:
    """An 824 application advice (BGN header, OTI/TED loops)."""

    control_number: str
    purpose: str
    reference: str
    advice_date: date
    items: tuple[AdviceItem, ...]


@maps("850")
def map_850(tset: TransactionSet) -> PurchaseOrder850:
    """An 850 purchase order: BEG header, PO1 lines with product IDs, PID descriptions, DTM dates."""
    beg: Segment | None = None
    header = Header()
    amounts: dict[str, Decimal] = {}
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
        else:
            header.take(segment)
    if beg is None:
        raise missing(tset, "BEG", "the purchase order header")
    return PurchaseOrder850(
        control_number=tset.control_number,
        purpose=required(beg, 1, "a purpose code"),
        order_type=text(beg, 2),
        po_number=required(beg, 3, "a purchase order number"),
        release=text(beg, 4),
        po_date=required_date(beg, 5),
        currency=header.currency,
        references=header.references,
        dates=header.dates,
        parties=header.parties.freeze(),
        lines=tuple(PurchaseOrderLine(**line) for line in lines),
        line_count=line_count,
        amounts=amounts,
    )


@maps("824")
def map_824(tset: TransactionSet) -> ApplicationAdvice824:
    """An 824 application advice: BGN header, OTI per original set, TED errors (TED02 + NTE text)."""
    bgn: Segment | None = None
    items: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BGN":
            bgn = only_one(bgn, segment)
        elif tag == "OTI":
            items.append(
                {
                    "action": required(segment, 1, "an application acknowledgment code"),
                    "reference_qualifier": required(segment, 2, "a reference qualifier"),
                    "reference_id": required(segment, 3, "a reference id"),
                    "sender": text(segment, 4),
                    "receiver": text(segment, 5),
                    "group_control": text(segment, 8),
                    "set_control": text(segment, 9),
                    "set_code": text(segment, 10),
                    "errors": [],
                }
            )
        elif tag == "TED" and items:
            items[-1]["errors"].append(
                {
                    "code": required(segment, 1, "an application error condition code"),
                    "message": segment.get(2),
                    "segment": text(segment, 3),
                    "ordinal": integer(segment, 4),
                    "element": integer(segment, 5),
                    "value": text(segment, 7),
                }
            )
        elif tag == "NTE" and items and items[-1]["errors"]:
            items[-1]["errors"][-1]["message"] += segment.get(2)
    if bgn is None:
        raise missing(tset, "BGN", "the advice header")
    return ApplicationAdvice824(
        control_number=tset.control_number,
        purpose=required(bgn, 1, "a purpose code"),
        reference=required(bgn, 2, "a reference id"),
        advice_date=required_date(bgn, 3),
        items=tuple(
            AdviceItem(**{**item, "errors": tuple(AdviceError(**error) for error in item["errors"])}) for item in items
        ),
    )


#: ST01 -> mapper, for every set the samples and our own output hold.
MAPPERS = {
    "810": map_810,
    "824": map_824,
    "846": map_846,
    "850": map_850,
    "855": map_855,
    "856": map_856,
    "997": map_997,
}
