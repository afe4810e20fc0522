"""Writers: the 850 we send, the 997 we return for every interchange, the 824 for a quarantined message.

Output is always version 00401/004010 with ``*`` element, ``>`` sub-element and ``~`` segment
delimiters, a fixed-width (106-byte) ISA, and a line break after each terminator (``newline=False``
leaves it out for partners that refuse it). Control numbers are the caller's: the services own their
sequences. Identifiers that would need a delimiter or non-ASCII character are refused with an
:class:`X12Error`; free text (reasons, descriptions) has delimiters replaced by spaces instead, because
a reason must still reach the supplier.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from suppliers.adapters.x12.documents import Party
from suppliers.adapters.x12.errors import X12Error
from suppliers.adapters.x12.model import FunctionalGroup, Interchange, TransactionSet
from suppliers.adapters.x12.values import USAGE_CODES

ELEMENT, COMPONENT, TERMINATOR = "*", ">", "~"
ISA_VERSION, GS_VERSION = "00401", "004010"
_FORBIDDEN = (ELEMENT, COMPONENT, TERMINATOR, "\r", "\n")
_MAX_CONTROL = 999_999_999


@dataclass(frozen=True)
class Outbound850Line:
    """One line of a purchase order we send: our SKU (PO1 ``BP``) and the supplier's part (``VP``)."""

    sku: str
    quantity: Decimal | int
    unit: str
    unit_price: Decimal | None = None
    supplier_part: str | None = None
    line_number: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Outbound850:
    """Everything an 850 needs; the caller supplies the control numbers from its own sequences."""

    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    interchange_control: int
    group_control: int
    set_control: int
    created_at: datetime
    po_number: str
    po_date: date
    lines: Sequence[Outbound850Line]
    usage: str = "P"
    purpose: str = "00"
    order_type: str = "SA"
    currency: str | None = None
    ship_to: Party | None = None
    application_sender: str | None = None
    application_receiver: str | None = None


@dataclass(frozen=True)
class Rejection824:
    """Why one received transaction set was not applied, for an 824 OTI/TED loop.

    ``condition_code`` is TED01 (``024`` other unlisted reason, ``007`` missing data, ``009`` invalid
    date, ``006`` duplicate, ``012`` invalid combination); ``action`` is OTI01 (``TR`` set rejected,
    ``TE`` accepted with error). The reference defaults to ``TN`` + the set's control number; pass e.g.
    ``("SI", asn_number)`` or ``("IV", invoice_number)`` when the supplier tracks by document number.
    """

    group_control: str
    set_control: str
    reason: str
    condition_code: str = "024"
    action: str = "TR"
    reference_qualifier: str = "TN"
    reference_id: str | None = None
    segment: str | None = None
    ordinal: int | None = None
    element: int | None = None
    value: str | None = None

    @classmethod
    def from_error(cls, error: X12Error, *, condition_code: str | None = None) -> Rejection824:
        """A rejection that carries an :class:`X12Error`'s place and value (set and group must be known)."""
        if error.set_control is None or error.group_control is None:
            raise X12Error("the error names no transaction set to reject", reason="unwritable")
        code = condition_code or {"missing": "007", "invalid_date": "009"}.get(error.reason, "024")
        return cls(
            group_control=error.group_control,
            set_control=error.set_control,
            reason=error.message,
            condition_code=code,
            segment=error.segment,
            ordinal=error.ordinal,
            element=error.element_index,
            value=error.value,
        )


# Building blocks ---------------------------------------------------------------------------------


def _identifier(value: str, ref: str) -> str:
    """A value written as is: it must be ASCII and free of delimiters, or we refuse to write it."""
    if not value.isascii() or not value.isprintable():
        raise X12Error(f"{ref} {value!r} is not printable ASCII", element=ref, value=value, reason="unwritable")
    for delimiter in _FORBIDDEN:
        if delimiter in value:
            raise X12Error(
                f"{ref} {value!r} contains the X12 delimiter {delimiter!r}",
                element=ref,
                value=value,
                reason="unwritable",
            )
    return value


def _free_text(value: str, limit: int | None = None) -> str:
    """Free text made writable: accents folded to ASCII, delimiters and control characters become spaces."""
    folded = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(" " if char in _FORBIDDEN or not char.isprintable() else char for char in folded)
    return cleaned[:limit] if limit else cleaned


def _number(value: Decimal | int, ref: str) -> str:
    """An R element: plain digits with a decimal point only when needed (``19.95``, ``120``)."""
    amount = Decimal(value)
    if not amount.is_finite():
        raise X12Error(f"{ref} {value!r} is not a finite number", element=ref, value=str(value), reason="unwritable")
    if amount == amount.to_integral_value():
        return str(int(amount))
    return format(amount.normalize(), "f")


def _control(value: int, ref: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_CONTROL:
        raise X12Error(
            f"{ref} {value!r} is not a control number (1 to 999999999)",
            element=ref,
            value=str(value),
            reason="unwritable",
        )
    return value


class _Set:
    """One transaction set being written; counts its own segments for SE01."""

    def __init__(self, code: str, control: int) -> None:
        self.control = f"{_control(control, 'ST02'):04d}"
        self.segments: list[str] = []
        self.add("ST", code, self.control)

    def add(self, tag: str, *elements: str | None) -> None:
        values = [
            "" if value is None else _identifier(value, f"{tag}{index:02d}") for index, value in enumerate(elements, 1)
        ]
        while values and values[-1] == "":
            values.pop()
        self.segments.append(ELEMENT.join((tag, *values)))

    def close(self) -> list[str]:
        self.add("SE", str(len(self.segments) + 1), self.control)
        return self.segments


@dataclass(frozen=True)
class _Envelope:
    sender_qualifier: str
    sender_id: str
    receiver_qualifier: str
    receiver_id: str
    application_sender: str
    application_receiver: str
    functional_id: str
    interchange_control: int
    group_control: int
    created_at: datetime
    usage: str


def _isa_id(value: str, ref: str, width: int) -> str:
    value = _identifier(value.strip(), ref)
    if not 1 <= len(value) <= width:
        raise X12Error(
            f"{ref} {value!r} must be 1 to {width} characters", element=ref, value=value, reason="unwritable"
        )
    return value.ljust(width)


def _qualifier(value: str, ref: str) -> str:
    value = _identifier(value.strip(), ref)
    if len(value) != 2:
        raise X12Error(f"{ref} {value!r} must be 2 characters", element=ref, value=value, reason="unwritable")
    return value


def _isa(envelope: _Envelope, interchange_control: int) -> str:
    if envelope.usage not in USAGE_CODES:
        raise X12Error(
            f"ISA15 {envelope.usage!r} must be P, T or I", element="ISA15", value=envelope.usage, reason="unwritable"
        )
    stamp = envelope.created_at
    isa = ELEMENT.join(
        (
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            _qualifier(envelope.sender_qualifier, "ISA05"),
            _isa_id(envelope.sender_id, "ISA06", 15),
            _qualifier(envelope.receiver_qualifier, "ISA07"),
            _isa_id(envelope.receiver_id, "ISA08", 15),
            stamp.strftime("%y%m%d"),
            stamp.strftime("%H%M"),
            "U",
            ISA_VERSION,
            f"{interchange_control:09d}",
            "0",
            envelope.usage,
            COMPONENT,
        )
    )
    assert len(isa) + 1 == 106, isa
    return isa


def _write(envelope: _Envelope, sets: Sequence[list[str]], *, newline: bool) -> bytes:
    stamp = envelope.created_at
    interchange_control = _control(envelope.interchange_control, "ISA13")
    group_control = _control(envelope.group_control, "GS06")
    isa = _isa(envelope, interchange_control)
    gs = ELEMENT.join(
        (
            "GS",
            envelope.functional_id,
            _identifier(envelope.application_sender.strip(), "GS02"),
            _identifier(envelope.application_receiver.strip(), "GS03"),
            stamp.strftime("%Y%m%d"),
            stamp.strftime("%H%M"),
            str(group_control),
            "X",
            GS_VERSION,
        )
    )
    segments = [isa, gs]
    for set_segments in sets:
        segments.extend(set_segments)
    segments.append(ELEMENT.join(("GE", str(len(sets)), str(group_control))))
    segments.append(ELEMENT.join(("IEA", "1", f"{interchange_control:09d}")))
    separator = TERMINATOR + ("\n" if newline else "")
    return (separator.join(segments) + separator).encode("ascii")


def _reply_envelope(
    received: Interchange,
    *,
    functional_id: str,
    interchange_control: int,
    group_control: int,
    created_at: datetime,
    usage: str | None,
) -> _Envelope:
    """Answer the sender: our ISA/GS sender is the received receiver and vice versa."""
    first = received.groups[0] if received.groups else None
    return _Envelope(
        sender_qualifier=received.receiver_qualifier,
        sender_id=received.receiver_id,
        receiver_qualifier=received.sender_qualifier,
        receiver_id=received.sender_id,
        application_sender=first.receiver if first else received.receiver_id,
        application_receiver=first.sender if first else received.sender_id,
        functional_id=functional_id,
        interchange_control=interchange_control,
        group_control=group_control,
        created_at=created_at,
        usage=usage or received.usage or "P",
    )


# 850 -------------------------------------------------------------------------------------------


def build_850(order: Outbound850, *, newline: bool = True) -> bytes:
    """Write a purchase order as one interchange with one group (GS01 ``PO``) and one 850 set.

    PO1 carries our SKU as ``BP`` (buyer's part number) and the supplier's part as ``VP``; CTT carries
    the line count and the hash total of the quantities.
    """
    if not order.lines:
        raise X12Error(f"purchase order {order.po_number!r} has no lines to send", reason="unwritable")
    tset = _Set("850", order.set_control)
    tset.add("BEG", order.purpose, order.order_type, order.po_number, None, order.po_date.strftime("%Y%m%d"))
    if order.currency:
        tset.add("CUR", "BY", order.currency)
    if order.ship_to is not None:
        _write_party(tset, order.ship_to)
    for index, line in enumerate(order.lines, 1):
        ids: list[str | None] = ["BP", line.sku]
        if line.supplier_part:
            ids += ["VP", line.supplier_part]
        tset.add(
            "PO1",
            line.line_number or str(index),
            _number(line.quantity, "PO102"),
            line.unit,
            _number(line.unit_price, "PO104") if line.unit_price is not None else None,
            None,
            *ids,
        )
        if line.description:
            tset.add("PID", "F", None, None, None, _free_text(line.description, 80))
    hash_total = sum((Decimal(line.quantity) for line in order.lines), Decimal(0))
    tset.add("CTT", str(len(order.lines)), _number(hash_total, "CTT02"))
    envelope = _Envelope(
        sender_qualifier=order.sender_qualifier,
        sender_id=order.sender_id,
        receiver_qualifier=order.receiver_qualifier,
        receiver_id=order.receiver_id,
        application_sender=order.application_sender or order.sender_id,
        application_receiver=order.application_receiver or order.receiver_id,
        functional_id="PO",
        interchange_control=order.interchange_control,
        group_control=order.group_control,
        created_at=order.created_at,
        usage=order.usage,
    )
    return _write(envelope, [tset.close()], newline=newline)


def _write_party(tset: _Set, party: Party) -> None:
    tset.add(
        "N1",
        party.entity,
        _free_text(party.name, 60) if party.name else None,
        party.id_qualifier if party.id else None,
        party.id,
    )
    if party.address:
        tset.add("N3", *(_free_text(line, 55) for line in party.address[:2]))
    if party.city or party.state or party.postal_code or party.country:
        tset.add(
            "N4",
            _free_text(party.city, 30) if party.city else None,
            party.state,
            party.postal_code,
            party.country,
        )


# 997 -------------------------------------------------------------------------------------------

#: X12Error reasons → AK5 (set) and AK9 (group) syntax error codes.
_AK5_CODES = {"truncated": "2", "set_control_mismatch": "3", "segment_count": "4"}
_AK9_CODES = {"truncated": "3", "group_control_mismatch": "4", "set_count": "5"}
#: Element-level reasons → AK4 data element syntax error codes.
_AK4_CODES = {
    "missing": "1",
    "too_long": "5",
    "not_a_number": "6",
    "invalid_value": "7",
    "invalid_date": "8",
    "invalid_time": "9",
}


def _same_control(left: str | None, right: str) -> bool:
    if left is None:
        return False
    if left.isdigit() and right.isdigit():
        return int(left) == int(right)
    return left == right


def build_997(
    interchange: Interchange,
    accepted: bool,
    errors: Sequence[X12Error] = (),
    *,
    interchange_control: int,
    group_control: int,
    created_at: datetime,
    usage: str | None = None,
    newline: bool = True,
) -> bytes:
    """Acknowledge every functional group and transaction set of a received interchange.

    One 997 set per received group (AK1), one AK2/AK5 per received set, AK9 for the group. With
    ``accepted`` every set is ``A``; a set named by one of ``errors`` (its ``group_control`` and
    ``set_control``) becomes ``E`` (accepted) or ``R`` (not accepted) with AK3/AK4 pointing at the
    segment and element. Not accepted: a group-level error (no set named) rejects every set of its
    group, and when no error names any group, every set is rejected. The count and control errors of a
    ``read_interchange(strict=False)`` are included, giving the envelope codes (AK5 3/4, AK9 4/5).
    """
    if not interchange.groups:
        raise X12Error(
            f"interchange {interchange.control_number} has no functional group to acknowledge", reason="unwritable"
        )
    every_error = [*errors, *interchange.errors]
    blanket = not accepted and not any(error.group_control is not None for error in every_error)
    sets = [
        _ack_group(group, accepted, blanket, every_error, number) for number, group in enumerate(interchange.groups, 1)
    ]
    envelope = _reply_envelope(
        interchange,
        functional_id="FA",
        interchange_control=interchange_control,
        group_control=group_control,
        created_at=created_at,
        usage=usage,
    )
    return _write(envelope, sets, newline=newline)


def _ack_group(
    group: FunctionalGroup, accepted: bool, blanket: bool, errors: list[X12Error], set_number: int
) -> list[str]:
    in_group = [error for error in errors if _same_control(error.group_control, group.control_number)]
    group_rejected = not accepted and (blanket or any(error.set_control is None for error in in_group))
    tset = _Set("997", set_number)
    tset.add("AK1", group.functional_id, group.control_number)
    statuses = []
    for received in group.transaction_sets:
        set_errors = [error for error in in_group if error.set_control == received.control_number]
        if set_errors:
            status = "E" if accepted else "R"
        else:
            status = "R" if group_rejected else "A"
        statuses.append(status)
        tset.add("AK2", received.code, received.control_number)
        for error in set_errors:
            _ak3_ak4(tset, error)
        codes = sorted({_AK5_CODES.get(error.reason, "5") for error in set_errors})[:5]
        tset.add("AK5", status, *codes)
    accepted_count = sum(status in ("A", "E") for status in statuses)
    if statuses and all(status == "A" for status in statuses):
        group_status = "A"
    elif accepted_count == len(statuses) and statuses:
        group_status = "E"
    elif accepted_count == 0:
        group_status = "R"
    else:
        group_status = "P"
    group_codes = sorted({_AK9_CODES[e.reason] for e in in_group if e.set_control is None and e.reason in _AK9_CODES})
    declared = group.declared_set_count
    tset.add(
        "AK9",
        group_status,
        str(declared if declared is not None else len(statuses)),
        str(len(statuses)),
        str(accepted_count),
        *group_codes[:5],
    )
    return tset.close()


def _ak3_ak4(tset: _Set, error: X12Error) -> None:
    """Point at the segment (AK3) and element (AK4) of a data error; envelope errors live in AK5."""
    if error.reason not in _AK4_CODES or not error.segment or not error.ordinal:
        return
    index = error.element_index
    segment_code = "8" if index else ("3" if error.reason == "missing" else "2")
    tset.add("AK3", error.segment, str(error.ordinal), None, segment_code)
    if index:
        value = _free_text(error.value, 99) if error.value else None
        tset.add("AK4", str(index), None, _AK4_CODES[error.reason], value)


# 824 -------------------------------------------------------------------------------------------


def _find_set(interchange: Interchange, group_control: str, set_control: str) -> tuple[FunctionalGroup, TransactionSet]:
    for group in interchange.groups:
        if _same_control(group_control, group.control_number):
            for tset in group.transaction_sets:
                if tset.control_number == set_control:
                    return group, tset
    raise X12Error(
        f"set {set_control} of group {group_control} is not in interchange {interchange.control_number}",
        set_control=set_control,
        group_control=group_control,
        reason="unwritable",
    )


def _chunks(text: str, first: int, rest: int) -> list[str]:
    """Cut text into pieces of at most ``first`` then ``rest`` characters, at a space where one is near.

    The space stays at the start of the next piece, so joining the pieces gives the text back exactly.
    """
    pieces, limit = [], first
    while len(text) > limit:
        cut = text.rfind(" ", limit // 2, limit + 1)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text, limit = text[cut:], rest
    pieces.append(text)
    return pieces


def build_824(
    interchange: Interchange,
    rejections: Sequence[Rejection824],
    *,
    interchange_control: int,
    group_control: int,
    set_control: int = 1,
    created_at: datetime,
    reference: str | None = None,
    usage: str | None = None,
    newline: bool = True,
) -> bytes:
    """An application advice telling the sender which of its sets were not applied, and why.

    One 824 set: BGN (``reference`` defaults to the received ISA13), then per rejection an OTI naming
    the original set (group, set control number, ST01) and a TED with the error condition code, the
    reason in TED02 (60 characters) continued in NTE segments (80 characters each, cut at spaces), so
    the full reason reaches the supplier and TED02 + NTE02... gives it back.
    """
    if not rejections:
        raise X12Error("an 824 needs at least one rejection", reason="unwritable")
    tset = _Set("824", set_control)
    tset.add(
        "BGN", "00", reference or interchange.control_number, created_at.strftime("%Y%m%d"), created_at.strftime("%H%M")
    )
    for rejection in rejections:
        _add_rejection(tset, interchange, rejection)
    envelope = _reply_envelope(
        interchange,
        functional_id="AG",
        interchange_control=interchange_control,
        group_control=group_control,
        created_at=created_at,
        usage=usage,
    )
    return _write(envelope, [tset.close()], newline=newline)


def _add_rejection(tset: _Set, interchange: Interchange, rejection: Rejection824) -> None:
    """One rejected set: OTI naming it, TED with the condition code and the reason's first 60
    characters, NTE segments with the rest."""
    group, received = _find_set(interchange, rejection.group_control, rejection.set_control)
    tset.add(
        "OTI",
        rejection.action,
        rejection.reference_qualifier,
        rejection.reference_id or received.control_number,
        group.sender,
        group.receiver,
        group.date.strftime("%Y%m%d"),
        group.time,
        group.control_number,
        received.control_number,
        received.code,
    )
    reason = _free_text(rejection.reason).strip()
    if not reason:
        raise X12Error("a rejection needs a reason text", set_control=rejection.set_control, reason="unwritable")
    head, *rest = _chunks(reason, 60, 80)
    tset.add(
        "TED",
        rejection.condition_code,
        head,
        rejection.segment,
        str(rejection.ordinal) if rejection.ordinal else None,
        str(rejection.element) if rejection.element else None,
        None,
        _free_text(rejection.value, 99) if rejection.value else None,
    )
    for chunk in rest:
        tset.add("NTE", None, chunk)
