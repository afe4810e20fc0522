"""X12 interchange → canonical documents, with the X12 toolkit (`suppliers.adapters.x12`) doing the reading.

Thin on purpose: the toolkit reads envelopes and maps each transaction set to its dataclass; this
module only renames those facts into the format-neutral documents of `suppliers.documents`, and
turns every `X12Error` into a `Problem` of kind `syntax` (it also feeds the 997). Sets we do not
take from suppliers (an 850, an unknown ST01) become `business` problems: the message is readable,
we just do not apply it (the 824 says why).

The supplier's profile (`suppliers.profiles`, one per business document) is applied while mapping:
dates in the patterns it accepts, and malformed segments it says to ignore (dropped, with a warning).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

from suppliers.adapters.x12 import (
    FunctionalAck997,
    InventoryAdvice846,
    Invoice810,
    PurchaseOrderAck855,
    ShipNotice856,
    TransactionSet,
    X12Error,
    map_810,
    map_846,
    map_855,
    map_856,
    map_997,
    read_interchange,
    read_isa,
)
from suppliers.documents import (
    AckLineDoc,
    Document,
    FunctionalAckDoc,
    InventoryAdviceDoc,
    InventoryLineDoc,
    InvoiceDoc,
    InvoiceLineDoc,
    Origin,
    ParsedMessage,
    PoAckDoc,
    Product,
    SetAckDoc,
    ShipLineDoc,
    ShipNoticeDoc,
)
from suppliers.exceptions import BUSINESS, SYNTAX, Problem
from suppliers.profiles import DocumentProfile, MessageProfiles, defaults

#: Qualifiers that carry our own SKU, and those that carry the supplier's part number (first wins).
OUR_SKU_QUALIFIERS = ("BP",)
SUPPLIER_PART_QUALIFIERS = ("VP", "VN", "VA")
#: ACK01 codes (855) by what they mean for the line; any other code counts as accepted.
REJECTED_ACK_CODES = frozenset({"IR", "ID", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8"})
CHANGED_ACK_CODES = frozenset({"IC", "IQ", "IP", "DR", "IS"})
REJECTED_ORDER_TYPES = frozenset({"RD", "RJ"})
#: DTM/ACK/SCH date qualifiers that say when goods arrive, best first.
ARRIVAL_DATE_QUALIFIERS = ("067", "017", "002", "068", "010", "011", "080")
#: 856 BSN01 purposes we apply: original, confirmation.
APPLIED_856_PURPOSES = frozenset({"00", "06"})
#: 846 QTY01 codes with a name of their own; others keep their code.
INVENTORY_QUANTITY_NAMES = {"33": "available", "17": "on_hand"}


def problem_from_x12(error: X12Error, *, kind: str = SYNTAX) -> Problem:
    """One X12Error as a stored problem: the toolkit's message already names element, value and rule."""
    path = None
    if error.group_control or error.set_control:
        path = "/".join(
            part
            for part in (
                f"GS {error.group_control}" if error.group_control else "",
                f"ST {error.set_control}" if error.set_control else "",
                f"{error.segment} #{error.ordinal}" if error.segment and error.ordinal else "",
            )
            if part
        )
    elif error.position is not None:
        path = f"byte {error.position}"
    return Problem(
        code=f"x12_{error.reason}",
        message=error.message,
        kind=kind,
        segment=error.segment,
        element=error.element,
        value=error.value,
        path=path,
        group_control=error.group_control,
        set_control=error.set_control,
    )


def parse(raw: bytes, profiles: MessageProfiles | None = None) -> ParsedMessage:
    """Read the interchange leniently (count mismatches are collected, not raised) and map every set
    under the sender's profiles (none: the strict defaults)."""
    profiles = profiles or defaults()
    parsed = ParsedMessage(format="x12")
    try:
        interchange = read_interchange(raw, strict=False)
    except X12Error as error:
        _sender_of_unread(parsed, raw)
        parsed.syntax_errors.append(error)
        parsed.problems.append(problem_from_x12(error))
        return parsed
    parsed.interchange = interchange
    parsed.envelope = interchange.header
    profiles.identify_sender(interchange.sender_qualifier, interchange.sender_id)
    parsed.sender_qualifier = interchange.sender_qualifier
    parsed.sender_id = interchange.sender_id
    parsed.interchange_control = interchange.control_number
    parsed.warnings = [str(warning) for warning in interchange.warnings]
    parsed.identity_keys.append(
        f"isa:{interchange.sender_qualifier}:{interchange.sender_id}:{int(interchange.control_number)}"
    )
    for error in interchange.errors:
        parsed.syntax_errors.append(error)
        parsed.problems.append(problem_from_x12(error))
    for group in interchange.groups:
        for tset in group.transaction_sets:
            _map_set(parsed, group, tset, profiles)
    parsed.warnings += profiles.warnings
    return parsed


def _map_set(parsed: ParsedMessage, group, tset, profiles: MessageProfiles) -> None:
    """Map one transaction set under its document type's profile: its document, or its problems."""
    parsed.document_types.append(tset.code)
    origin = Origin(
        path=f"GS {group.control_number}/ST {tset.control_number}",
        segment=tset.code,
        group_control=group.control_number,
        set_control=tset.control_number,
    )
    converter = _CONVERTERS.get(tset.code)
    if converter is None:
        parsed.problems.append(
            Problem(
                code="unsupported_document",
                message=f"transaction set {tset.control_number} is an {tset.code}; suppliers may send "
                f"{', '.join(sorted(_CONVERTERS))} only",
                segment="ST",
                element="ST01",
                value=tset.code,
                path=origin.path,
                group_control=group.control_number,
                set_control=tset.control_number,
            )
        )
        return
    try:
        document, problems = converter(tset, origin, profiles.document(tset.code))
    except X12Error as error:
        parsed.syntax_errors.append(error)
        parsed.problems.append(problem_from_x12(error))
        return
    parsed.problems.extend(problems)
    if document is not None:
        parsed.documents.append(document)


def _mapped(mapper: Callable, tset: TransactionSet, profile: DocumentProfile):
    """Map a set under the profile, dropping the malformed segments it says to ignore."""
    return profile.map_tolerating(
        lambda current: mapper(current, profile), tset, errors=(X12Error,), without=_blank_segment
    )


def _blank_segment(tset: TransactionSet, error: X12Error) -> tuple[TransactionSet, str] | None:
    """The set with the segment the error names replaced by an empty one (positions stay as they
    were, so later errors still point at the right segment); never ST or SE."""
    ordinal = error.ordinal or 0
    if not 1 < ordinal < len(tset.segments):
        return None
    bad = tset.segments[ordinal - 1]
    if bad.tag != error.segment:
        return None
    segments = (*tset.segments[: ordinal - 1], replace(bad, tag="", elements=()), *tset.segments[ordinal:])
    return replace(tset, segments=segments), f"{bad.tag} #{ordinal} at byte {bad.offset}: {error.message}"


def _sender_of_unread(parsed: ParsedMessage, raw: bytes) -> None:
    """An interchange that could not be read still names its sender when its ISA splits and ISA06 is a
    plausible id: the supplier is then known, and a TA1 can tell it what was wrong."""
    header = read_isa(raw)
    if header is None:
        return
    parsed.envelope = header
    sender = header.sender_id
    if 0 < len(sender) <= 15 and sender.isascii() and sender.isprintable():
        parsed.sender_qualifier, parsed.sender_id = header.sender_qualifier, sender
        control = header.control_number
        parsed.interchange_control = control if control.isascii() and control.isprintable() else None


# --- Converters (one per transaction set we take) -----------------------------------------------

Converted = tuple[Document | None, list[Problem]]


def product_from_ids(product_ids: dict[str, str]) -> Product:
    sku = next((product_ids[q] for q in OUR_SKU_QUALIFIERS if product_ids.get(q)), None)
    supplier_part = next((product_ids[q] for q in SUPPLIER_PART_QUALIFIERS if product_ids.get(q)), None)
    others = {
        qualifier: value
        for qualifier, value in product_ids.items()
        if value and qualifier not in OUR_SKU_QUALIFIERS and value != supplier_part
    }
    return Product(sku=sku, supplier_part=supplier_part, other_ids=others)


def _line_no(value: str | None) -> int | None:
    """An assigned line number as an int (None when it is not 1 to 6 ASCII digits, as LIN01/PO101 are)."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 6 and int(value) > 0 else None


def _arrival(dates: dict[str, date]) -> date | None:
    return next((dates[q] for q in ARRIVAL_DATE_QUALIFIERS if q in dates), None)


def _from_855(tset: TransactionSet, origin: Origin, profile: DocumentProfile) -> Converted:
    ack: PurchaseOrderAck855 = _mapped(map_855, tset, profile)
    rejected = ack.ack_type in REJECTED_ORDER_TYPES
    header_date = _arrival(ack.dates)
    lines = []
    for index, line in enumerate(ack.lines, 1):
        first = line.acks[0] if line.acks else None
        code = first.status if first else ("RJ" if rejected else "IA")
        if code in REJECTED_ACK_CODES or (rejected and first is None):
            status = "rejected"
        elif code in CHANGED_ACK_CODES:
            status = "changed"
        else:
            status = "accepted"
        qty = first.quantity if first is not None and first.quantity is not None else line.quantity
        expected = (
            (first.date if first else None)
            or next((s.date for s in line.schedules if s.date), None)
            or _arrival(line.dates)
            or header_date
        )
        lines.append(
            AckLineDoc(
                line_no=_line_no(line.line_number),
                product=product_from_ids(line.product_ids),
                status=status,
                code=code,
                qty=qty,
                unit=(first.unit if first and first.unit else None) or line.unit,
                unit_price=line.unit_price,
                expected_date=expected,
                origin=origin.child(f"PO1 {line.line_number or index}", segment="PO1"),
            )
        )
    return (
        PoAckDoc(
            po_number=ack.po_number,
            rejected=rejected,
            ack_date=ack.ack_date,
            expected_date=header_date,
            lines=tuple(lines),
            origin=origin,
        ),
        [],
    )


def _within(tset: TransactionSet, origin: Origin, tag: str, index: int, limit: int, what: str) -> None:
    """An identifier the services store (shipment id, invoice number) may not exceed its X12 maximum."""
    segment = next((s for s in tset.body if s.tag == tag), None)
    if segment is not None and len(segment.get(index)) > limit:
        error = segment.error(
            f"{segment.ref(index)} is {len(segment.get(index))} characters long; {what} has at most {limit}",
            index,
            reason="too_long",
        )
        raise error.in_set(group_control=origin.group_control or "", set_control=origin.set_control)


def _from_856(tset: TransactionSet, origin: Origin, profile: DocumentProfile) -> Converted:
    notice: ShipNotice856 = _mapped(map_856, tset, profile)
    _within(tset, origin, "BSN", 2, 30, "a shipment identification")
    if notice.purpose not in APPLIED_856_PURPOSES:
        return None, [
            Problem(
                code="unsupported_purpose",
                message=f"BSN01 {notice.purpose!r}: only original (00) or confirmation (06) ship notices are "
                "applied; send changes as a new ship notice",
                segment="BSN",
                element="BSN01",
                value=notice.purpose,
                path=origin.path,
                group_control=origin.group_control,
                set_control=origin.set_control,
            )
        ]
    packs = {pack.hl_id: pack.sscc for pack in notice.packs}
    lines = tuple(
        ShipLineDoc(
            po_number=item.po_number,
            line_no=_line_no(item.line_number),
            product=product_from_ids(item.product_ids),
            qty=item.quantity,
            unit=item.unit,
            pack=packs.get(item.pack_hl_id) if item.pack_hl_id else None,
            origin=origin.child(f"HL {item.hl_id}", segment="LIN"),
        )
        for item in notice.items
    )
    return (
        ShipNoticeDoc(
            number=notice.shipment_id,
            notice_date=notice.notice_date,
            shipped_on=notice.shipped_on,
            expected_on=notice.expected_delivery_on,
            carrier=notice.carrier_code,
            bill_of_lading=notice.bill_of_lading,
            lines=lines,
            origin=origin,
        ),
        [],
    )


def _from_810(tset: TransactionSet, origin: Origin, profile: DocumentProfile) -> Converted:
    invoice: Invoice810 = _mapped(map_810, tset, profile)
    _within(tset, origin, "BIG", 2, 22, "an invoice number")
    lines = tuple(
        InvoiceLineDoc(
            line_no=_line_no(line.line_number),
            product=product_from_ids(line.product_ids),
            qty=line.quantity,
            unit=line.unit,
            unit_price=line.unit_price,
            origin=origin.child(f"IT1 {line.line_number or index}", segment="IT1"),
        )
        for index, line in enumerate(invoice.lines, 1)
    )
    return (
        InvoiceDoc(
            number=invoice.invoice_number,
            invoice_date=invoice.invoice_date,
            po_number=invoice.po_number,
            currency=invoice.currency,
            total=invoice.total_amount,
            lines=lines,
            origin=origin,
            charges=invoice.net_charges,
        ),
        [],
    )


def _from_846(tset: TransactionSet, origin: Origin, profile: DocumentProfile) -> Converted:
    advice: InventoryAdvice846 = _mapped(map_846, tset, profile)
    items = []
    for index, item in enumerate(advice.items, 1):
        quantities = {
            INVENTORY_QUANTITY_NAMES.get(q.qualifier, q.qualifier): q.quantity
            for q in item.quantities
            if q.quantity is not None
        }
        unit = next((q.unit for q in item.quantities if q.unit), None)
        items.append(
            InventoryLineDoc(
                product=product_from_ids(item.product_ids),
                quantities=quantities,
                unit=unit,
                origin=origin.child(f"LIN {item.line_number or index}", segment="LIN"),
            )
        )
    return (
        InventoryAdviceDoc(
            reference=advice.reference, advice_date=advice.advice_date, items=tuple(items), origin=origin
        ),
        [],
    )


def _from_997(tset: TransactionSet, origin: Origin, profile: DocumentProfile) -> Converted:
    ack: FunctionalAck997 = map_997(tset)
    return (
        FunctionalAckDoc(
            functional_id=ack.functional_id,
            group_control=ack.group_control,
            status=ack.status,
            sets=tuple(SetAckDoc(code=s.code, control_number=s.control_number, status=s.status) for s in ack.sets),
            origin=origin,
        ),
        [],
    )


_CONVERTERS: dict[str, Callable[[TransactionSet, Origin, DocumentProfile], Converted]] = {
    "855": _from_855,
    "856": _from_856,
    "810": _from_810,
    "846": _from_846,
    "997": _from_997,
}

__all__ = ["BUSINESS", "SYNTAX", "parse", "problem_from_x12", "product_from_ids"]
