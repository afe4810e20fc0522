"""The TA1 interchange acknowledgement: the answer to an interchange header (ISA/IEA), not to its contents.

We send one when the sender asks (ISA14 = 1) and whenever the envelope itself is at fault, even when the
rest could not be read: the note code (TA105) says what was wrong, and for a readable interchange the
997 follows with the contents. See docs/X12.md.
"""

from __future__ import annotations

import re
from datetime import datetime

from suppliers.adapters.x12.errors import X12Error
from suppliers.adapters.x12.model import Interchange, IsaHeader
from suppliers.adapters.x12.values import USAGE_CODES
from suppliers.adapters.x12.writer import _FORBIDDEN, ELEMENT, TERMINATOR, _control, _Envelope, _isa

#: TA105 interchange note codes (X12 I18) for envelope faults named by their element.
TA1_NOTES = {
    "ISA01": "010",
    "ISA02": "011",
    "ISA03": "012",
    "ISA04": "013",
    "ISA05": "005",
    "ISA06": "006",
    "ISA07": "007",
    "ISA08": "008",
    "ISA09": "014",
    "ISA10": "015",
    "ISA11": "016",
    "ISA12": "017",
    "ISA13": "018",
    "ISA14": "019",
    "ISA15": "020",
    "ISA16": "027",
    "IEA01": "021",
    "IEA02": "001",
}
TA1_ACCEPTED, TA1_ACCEPTED_WITH_ERRORS, TA1_REJECTED = "A", "E", "R"
NO_ERROR, DUPLICATE_INTERCHANGE = "000", "025"


def ta1_note(error: X12Error) -> str:
    """The TA105 note code for an error that stopped (or marred) the reading of an interchange: the reader's
    own note for delimiter faults, else by element (ISA05 → 005, IEA01 → 021, ...), else by kind: truncation
    023, a broken group or set or a stray byte 024 (invalid interchange content), anything else 022 (invalid
    control structure)."""
    if error.interchange_note:
        return error.interchange_note
    if error.element in TA1_NOTES:
        return TA1_NOTES[error.element]
    if error.reason == "truncated":
        return "023"
    if error.reason == "group_count":
        return "021"
    if error.group_control or error.segment in ("GS", "GE", "ST", "SE") or error.reason == "bad_character":
        return "024"
    return "022"


def _echo(value: str, pattern: str) -> bool:
    return bool(re.fullmatch(pattern, value)) and not any(d in value for d in _FORBIDDEN)


def _party(qualifier: str, party_id: str, fallback: tuple[str, str] | None, which: str) -> tuple[str, str]:
    """A received qualifier/id pair if it can be written back, else the fallback (our master data)."""
    if _echo(qualifier, r"[ -~]{2}") and _echo(party_id, r"[ -~]{1,15}"):
        return qualifier, party_id
    if fallback is None:
        raise X12Error(f"the {which} of the received ISA cannot be written back", reason="unwritable")
    return fallback


def build_ta1(
    received: Interchange | IsaHeader,
    *,
    acknowledgement: str,
    note: str,
    interchange_control: int,
    created_at: datetime,
    sender: tuple[str, str] | None = None,
    receiver: tuple[str, str] | None = None,
    newline: bool = True,
) -> bytes:
    """An interchange holding one TA1 (and no group: IEA01 is 0) that answers a received interchange header.

    TA101-103 echo ISA13, ISA09 and ISA10; TA104 is ``A``, ``E`` or ``R``; TA105 the note code (see
    :func:`ta1_note`). Addressed back to the sender (ISA ids swapped); where a received id is itself the
    fault being reported and cannot be written, ``sender`` (our qualifier and id) or ``receiver`` (the
    supplier's) stands in. A received control number, date or time that cannot be echoed is written as
    zeros and today's stamp, since TA101-103 are mandatory.
    """
    if acknowledgement not in (TA1_ACCEPTED, TA1_ACCEPTED_WITH_ERRORS, TA1_REJECTED):
        raise X12Error(f"TA104 {acknowledgement!r} must be A, E or R", value=acknowledgement, reason="unwritable")
    if not re.fullmatch(r"[0-9]{3}", note):
        raise X12Error(f"TA105 {note!r} must be a 3-digit note code", value=note, reason="unwritable")
    header = received.header if isinstance(received, Interchange) else received
    ours = _party(header.receiver_qualifier, header.receiver_id, sender, "receiver (ISA07/ISA08)")
    theirs = _party(header.sender_qualifier, header.sender_id, receiver, "sender (ISA05/ISA06)")
    usage = header.usage if header.usage in USAGE_CODES else "P"
    envelope = _Envelope(*ours, *theirs, "", "", "", interchange_control, 1, created_at, usage)
    control = _control(interchange_control, "ISA13")
    received_control = header.control_number
    echoed = f"{int(received_control):09d}" if re.fullmatch(r"[0-9]{1,9}", received_control) else "0" * 9
    day = header.date_text if re.fullmatch(r"[0-9]{6}", header.date_text) else created_at.strftime("%y%m%d")
    moment = header.time if re.fullmatch(r"[0-9]{4}", header.time) else created_at.strftime("%H%M")
    segments = [
        _isa(envelope, control),
        ELEMENT.join(("TA1", echoed, day, moment, acknowledgement, note)),
        ELEMENT.join(("IEA", "0", f"{control:09d}")),
    ]
    separator = TERMINATOR + ("\n" if newline else "")
    return (separator.join(segments) + separator).encode("ascii")
