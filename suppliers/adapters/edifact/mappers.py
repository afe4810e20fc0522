"""Mappers: one EDIFACT message in, one canonical document of ``suppliers.documents`` out.

DESADV → ``ShipNoticeDoc`` (as an 856), ORDRSP → ``PoAckDoc`` (as an 855), INVOIC → ``InvoiceDoc`` (as an
810): the very objects the X12 path produces, so the services, their checks and the supplier profiles
serve both formats. Codes are translated where the two standards say the same thing in other words
(dates by qualifier, line actions into ACK01 codes, item types into product qualifiers: see
docs/EDIFACT.md); everything else is read strictly and a value that does not parse raises
:class:`EdifactError` naming segment, element, value and what was expected, stamped with the message.

Each mapper returns ``(document, problems)``: business-level refusals (a cancellation, a credit note)
are problems, not errors, because the message itself is well formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from suppliers.adapters.edifact.errors import EdifactError
from suppliers.adapters.edifact.model import Message, Segment
from suppliers.adapters.edifact.values import (
    AMOUNT_DIGITS,
    dates,
    line_number,
    number,
    product_ids,
    required,
    unit,
)
from suppliers.adapters.x12_feed import product_from_ids
from suppliers.documents import (
    AckLineDoc,
    Document,
    InvoiceDoc,
    InvoiceLineDoc,
    Origin,
    PoAckDoc,
    ShipLineDoc,
    ShipNoticeDoc,
)
from suppliers.exceptions import BUSINESS, Problem
from suppliers.profiles import NO_PROFILE, DocumentProfile

#: BGM03 (1225) message functions we apply: original, or not given.
APPLIED_FUNCTIONS = frozenset({"", "9"})
#: BGM01 (1001) document types an INVOIC may carry and be applied as an invoice.
INVOICE_TYPES = frozenset({"", "380", "388"})
#: DTM qualifiers (2005): when goods arrive, best first (estimated delivery, arrival, promised, requested).
ARRIVAL_QUALIFIERS = ("17", "132", "69", "2", "64")
SHIP_QUALIFIERS = ("11",)
DOCUMENT_DATE_QUALIFIERS = ("137", "3")
#: ORDRSP LIN02 (1229) line actions → the 855 ACK01 code that means the same; other codes are kept.
LINE_ACTIONS = {"5": "IA", "4": "IA", "6": "IC", "3": "IC", "7": "IR", "2": "ID"}
REJECTED_CODES = frozenset({"IR", "ID"})
CHANGED_CODES = frozenset({"IC"})
#: QTY qualifiers (6063) per message, best first.
DESPATCH_QUANTITY = "12"
CONFIRMED_QUANTITIES = ("113", "21", "12")
INVOICED_QUANTITIES = ("47", "46", "12")
#: PRI qualifiers (5125): net price, else gross.
PRICE_QUALIFIERS = ("AAA", "AAB")
#: MOA qualifiers (5025) of an INVOIC: the invoice total (best first), the line items total, the tax.
TOTAL_AMOUNTS = ("77", "86", "39")
LINES_AMOUNT = "79"
TAX_AMOUNT = "124"
ALLOWANCE_CHARGE_AMOUNTS = ("8", "23", "204", "25")
#: 1004 document numbers are an..35 in every directory (the services store them).
DOCUMENT_NUMBER_LENGTH = 35
#: Segments that end an item (LIN) group.
LINE_ENDS = frozenset({"LIN", "CPS", "PAC", "UNS"})


@dataclass
class _Line:
    lin: Segment
    segments: list[Segment] = field(default_factory=list)
    pack: str | None = None

    @property
    def last(self) -> Segment:
        return self.segments[-1] if self.segments else self.lin


@dataclass
class _Sections:
    """A message body cut at its item groups: header, one entry per LIN, and the summary (after UNS)."""

    header: list[Segment] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)
    summary: list[Segment] = field(default_factory=list)
    between: list[Segment] = field(default_factory=list)  # packaging levels (CPS/PAC/GIN...) of a DESADV


def _sections(message: Message) -> _Sections:
    sections, line, in_detail, summary, pack = _Sections(), None, False, False, None
    for segment in message.body:
        tag = segment.tag
        if summary or (tag == "UNS" and segment.get(1) != "D"):
            summary = True  # UNS+S: the summary section follows
            sections.summary.append(segment)
            continue
        if tag in LINE_ENDS:
            in_detail, line = True, None
            if tag == "CPS":
                pack = None
        if tag == "LIN":
            line = _Line(segment, pack=pack)
            sections.lines.append(line)
        elif line is not None:
            line.segments.append(segment)
        elif in_detail:
            sections.between.append(segment)
            if tag == "GIN" and segment.get(1) == "BJ":
                pack = segment.get(2, 1) or pack  # SSCC of the package the next items are in
        else:
            sections.header.append(segment)
    return sections


def _one(segments: list[Segment], tag: str, message: Message, what: str) -> Segment:
    found = [segment for segment in segments if segment.tag == tag]
    if not found:
        raise EdifactError(
            f"the {message.type} has no {tag} segment; expected {what}",
            segment=tag,
            ordinal=1,
            position=message.unh.offset,
            reason="missing",
        )
    if len(found) > 1:
        raise found[1].error(f"{tag} repeats at byte {found[1].offset}; the {message.type} has one {what}")
    return found[0]


def _qualified(segments: list[Segment], tag: str, qualifier: str) -> Segment | None:
    """The first segment with this tag whose first component (the qualifier) matches."""
    return next((s for s in segments if s.tag == tag and s.get(1, 1) == qualifier), None)


def _reference(segments: list[Segment], qualifier: str) -> Segment | None:
    return _qualified(segments, "RFF", qualifier)


def _first_date(found: dict[str, date], qualifiers: tuple[str, ...]) -> date | None:
    return next((found[q] for q in qualifiers if q in found), None)


def _quantity(line: _Line, qualifiers: tuple[str, ...]) -> tuple[Decimal | None, str | None]:
    for qualifier in qualifiers:
        segment = _qualified(line.segments, "QTY", qualifier)
        if segment is not None:
            return number(segment, 1, 2, required=True, what="a quantity (6060)"), unit(segment.get(1, 3))
    return None, None


def _price(line: _Line) -> Decimal | None:
    for qualifier in PRICE_QUALIFIERS:
        segment = _qualified(line.segments, "PRI", qualifier)
        if segment is not None:
            return number(segment, 1, 2, what="a price (5118)")
    return None


def _product(line: _Line):
    ids = product_ids(line.lin, line.segments)
    if not ids:
        raise line.lin.error(
            f"LIN {line.lin.get(1) or line.lin.ordinal} names no product: LIN03 and PIA carry no item id",
            3,
            1,
            reason="missing",
        )
    return product_from_ids(ids)


def _function_problem(bgm: Segment, origin: Origin, what: str) -> Problem | None:
    function = bgm.get(3)
    if function in APPLIED_FUNCTIONS:
        return None
    return Problem(
        code="unsupported_purpose",
        message=f"BGM03 {function!r}: only original (9) {what}s are applied; send a change as a new {what}",
        kind=BUSINESS,
        segment="BGM",
        element="BGM03",
        value=function,
        path=origin.path,
    )


def _line_origin(origin: Origin, line: _Line, index: int) -> Origin:
    """``LIN 2 #15``: the line number as sent and the LIN's position in the message (line numbers repeat)."""
    return origin.child(f"LIN {line.lin.get(1) or index} #{line.lin.ordinal}", segment="LIN")


Mapped = tuple[Document | None, list[Problem]]


def map_desadv(message: Message, origin: Origin, profile: DocumentProfile = NO_PROFILE) -> Mapped:
    """A despatch advice: BGM02 number, DTM 137/11/17, RFF ON (header or per line) and BM, TDT carrier;
    per LIN the item ids, QTY+12 and the SSCC (GIN+BJ) of the package it travels in."""
    sections = _sections(message)
    bgm = _one(sections.header, "BGM", message, "the despatch advice number")
    number_ = required(bgm, 2, None, "the despatch advice number (1004)", limit=DOCUMENT_NUMBER_LENGTH)
    problem = _function_problem(bgm, origin, "despatch advice")
    if problem is not None:
        return None, [problem]
    header_dates = dates(sections.header, profile)
    order = _reference(sections.header, "ON")
    bill = _reference(sections.header, "BM")
    tdt = next((s for s in sections.header if s.tag == "TDT"), None)
    lines = []
    for index, line in enumerate(sections.lines, 1):
        dates(line.segments, profile)  # read strictly even though the services take dates from the header
        quantities = [s for s in line.segments if s.tag == "QTY" and s.get(1, 1) == DESPATCH_QUANTITY]
        if not quantities:
            raise EdifactError(
                f"LIN {line.lin.get(1) or index} at byte {line.lin.offset} has no QTY+{DESPATCH_QUANTITY} "
                "(despatch quantity)",
                segment="QTY",
                ordinal=line.last.ordinal,
                position=line.lin.offset,
                reason="missing",
            )
        if len(quantities) > 1:
            raise quantities[1].error(f"a second QTY+{DESPATCH_QUANTITY} for LIN {line.lin.get(1) or index}", 1, 1)
        qty = number(quantities[0], 1, 2, required=True, what="the quantity despatched (6060)")
        line_ref = _reference(line.segments, "ON")
        lines.append(
            ShipLineDoc(
                po_number=(line_ref.get(1, 2) if line_ref else None) or (order.get(1, 2) if order else None),
                line_no=line_number(line_ref.get(1, 3) if line_ref else None) or line_number(line.lin.get(1)),
                product=_product(line),
                qty=qty,
                unit=unit(quantities[0].get(1, 3)),
                pack=line.pack,
                origin=_line_origin(origin, line, index),
            )
        )
    notice = ShipNoticeDoc(
        number=number_,
        notice_date=header_dates.get("137"),
        shipped_on=_first_date(header_dates, SHIP_QUALIFIERS),
        expected_on=_first_date(header_dates, ARRIVAL_QUALIFIERS[:3]),
        carrier=(tdt.get(5, 1) or tdt.get(5, 4) or None) if tdt else None,
        bill_of_lading=(bill.get(1, 2) or None) if bill else None,
        lines=tuple(lines),
        origin=origin,
    )
    return notice, []


def map_ordrsp(message: Message, origin: Origin, profile: DocumentProfile = NO_PROFILE) -> Mapped:
    """An order response: BGM03 27 rejects the order; RFF ON names it; per LIN the action (LIN02) as an
    ACK01 code, the confirmed quantity (QTY 113, else 21), the price (PRI AAA/AAB) and the date."""
    sections = _sections(message)
    bgm = _one(sections.header, "BGM", message, "the order response number")
    order = _reference(sections.header, "ON")
    if order is None or not order.get(1, 2):
        raise EdifactError(
            "the ORDRSP names no purchase order: its header has no RFF+ON with the order number",
            segment="RFF",
            ordinal=bgm.ordinal,
            position=bgm.offset,
            reason="missing",
        )
    rejected = bgm.get(3) == "27"
    header_dates = dates(sections.header, profile)
    header_expected = _first_date(header_dates, ARRIVAL_QUALIFIERS)
    lines = []
    for index, line in enumerate(sections.lines, 1):
        action = line.lin.get(2)
        code = LINE_ACTIONS.get(action, action) or ("RJ" if rejected else "IA")
        if code in REJECTED_CODES or (rejected and not action):
            status = "rejected"
        elif code in CHANGED_CODES:
            status = "changed"
        else:
            status = "accepted"
        qty, qty_unit = _quantity(line, CONFIRMED_QUANTITIES)
        lines.append(
            AckLineDoc(
                line_no=line_number(line.lin.get(1)),
                product=_product(line),
                status=status,
                code=code,
                qty=qty,
                unit=qty_unit,
                unit_price=_price(line),
                expected_date=_first_date(dates(line.segments, profile), ARRIVAL_QUALIFIERS) or header_expected,
                origin=_line_origin(origin, line, index),
            )
        )
    ack = PoAckDoc(
        po_number=order.get(1, 2),
        rejected=rejected,
        ack_date=header_dates.get("137"),
        expected_date=header_expected,
        lines=tuple(lines),
        origin=origin,
    )
    return ack, []


def _amounts(segments: list[Segment]) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for segment in segments:
        if segment.tag == "MOA":
            qualifier = required(segment, 1, 1, "a monetary amount qualifier (5025)")
            amount = number(segment, 1, 2, required=True, what="an amount (5004)", digits=AMOUNT_DIGITS)
            found.setdefault(qualifier, amount)
    return found


def _allowances_and_charges(segments: list[Segment]) -> Decimal:
    """Header and summary ALC groups: each ALC (A allowance, C charge) with the MOA that follows it."""
    net, sign = Decimal(0), 0
    for segment in segments:
        if segment.tag == "ALC":
            sign = {"A": -1, "C": 1}.get(segment.get(1), 0)
        elif segment.tag == "MOA" and sign and segment.get(1, 1) in ALLOWANCE_CHARGE_AMOUNTS:
            amount = number(segment, 1, 2, required=True, what="an amount (5004)", digits=AMOUNT_DIGITS)
            net += sign * amount
            sign = 0
    return net


def _invoice_type_problem(bgm: Segment, origin: Origin) -> Problem | None:
    if bgm.get(1, 1) in INVOICE_TYPES:
        return None
    return Problem(
        code="unsupported_document",
        message=f"BGM01 {bgm.get(1, 1)!r} is not a commercial invoice (380); credit notes and other documents are "
        "not applied",
        kind=BUSINESS,
        segment="BGM",
        element="BGM01-1",
        value=bgm.get(1, 1),
        path=origin.path,
    )


def _total_and_charges(sections: _Sections) -> tuple[Decimal | None, Decimal]:
    """The invoice total (MOA 77, else 86, else 39) and what it adds to the lines: total − MOA 79 when the
    supplier states its line total, else the header/summary ALC amounts plus the tax (MOA 124)."""
    summary = _amounts(sections.summary)
    total = next((summary[q] for q in TOTAL_AMOUNTS if q in summary), None)
    if total is not None and LINES_AMOUNT in summary:
        return total, total - summary[LINES_AMOUNT]
    charges = _allowances_and_charges(sections.header + sections.summary) + summary.get(TAX_AMOUNT, Decimal(0))
    return total, charges


def map_invoic(message: Message, origin: Origin, profile: DocumentProfile = NO_PROFILE) -> Mapped:
    """An invoice: BGM02 number, DTM 137 date, RFF ON order, CUX currency; per LIN the invoiced quantity
    (QTY 47) and price (PRI AAA/AAB); the total and charges from the summary (see `_total_and_charges`)."""
    sections = _sections(message)
    bgm = _one(sections.header, "BGM", message, "the invoice number")
    problem = _invoice_type_problem(bgm, origin)
    if problem is not None:
        return None, [problem]
    invoice_number = required(bgm, 2, None, "the invoice number (1004)", limit=DOCUMENT_NUMBER_LENGTH)
    problem = _function_problem(bgm, origin, "invoice")
    if problem is not None:
        return None, [problem]
    invoice_date = _first_date(dates(sections.header, profile), DOCUMENT_DATE_QUALIFIERS)
    if invoice_date is None:
        raise EdifactError(
            "the INVOIC has no DTM+137 (document date) or DTM+3 (invoice date)",
            segment="DTM",
            ordinal=bgm.ordinal,
            position=bgm.offset,
            reason="missing",
        )
    order = _reference(sections.header, "ON")
    line_orders = {ref.get(1, 2) for line in sections.lines if (ref := _reference(line.segments, "ON"))}
    lines = []
    for index, line in enumerate(sections.lines, 1):
        qty, qty_unit = _quantity(line, INVOICED_QUANTITIES)
        lines.append(
            InvoiceLineDoc(
                line_no=line_number(line.lin.get(1)),
                product=_product(line),
                qty=qty,
                unit=qty_unit,
                unit_price=_price(line),
                origin=_line_origin(origin, line, index),
            )
        )
    total, charges = _total_and_charges(sections)
    invoice = InvoiceDoc(
        number=invoice_number,
        invoice_date=invoice_date,
        po_number=(order.get(1, 2) if order else None) or (line_orders.pop() if len(line_orders) == 1 else None),
        currency=next((s.get(1, 2) for s in sections.header if s.tag == "CUX" and s.get(1, 2)), None),
        total=total,
        lines=tuple(lines),
        origin=origin,
        charges=charges,
    )
    return invoice, []


MAPPERS: dict[str, Callable[..., Mapped]] = {
    "DESADV": map_desadv,
    "ORDRSP": map_ordrsp,
    "INVOIC": map_invoic,
}


def map_message(message: Message, origin: Origin, profile: DocumentProfile = NO_PROFILE) -> Mapped:
    """Map one message by its type, under the supplier's profile for it (dates in the patterns it
    accepts; none: the strict rules); an error is stamped with the message (and group) it came from."""
    mapper = MAPPERS.get(message.type)
    if mapper is None:
        raise EdifactError(f"no mapper for {message.type}", segment="UNH", reason="wrong_message")
    try:
        return mapper(message, origin, profile)
    except EdifactError as error:
        raise error.in_message(message_ref=message.reference, group_ref=message.group_ref) from None


__all__ = ["MAPPERS", "map_desadv", "map_invoic", "map_message", "map_ordrsp"]
