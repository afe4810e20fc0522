"""The ISA header: where an interchange declares its delimiters, and what a TA1 answers.

Split by its element separator (byte 3) rather than by fixed columns, so an ISA whose fields are not
padded to width is read the same way; ISA16 is the sub-element separator and the byte after it the
segment terminator. Every element a reply echoes or relies on is checked here and named when wrong
(ISA05 is ISA05, never the ISA07 of the reply it would have broken). See docs/X12.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suppliers.adapters.x12.errors import X12Error, X12Warning
from suppliers.adapters.x12.model import Delimiters, IsaHeader, Segment
from suppliers.adapters.x12.values import USAGE_CODES, control_number, envelope_id, interchange_date

#: A fixed-width ISA is 106 bytes; one with unpadded fields is shorter, never longer.
ISA_LENGTH = 106
_WHITESPACE = " \t\r\n"
_BOM = b"\xef\xbb\xbf"


def start_of_data(data: bytes) -> int:
    start = len(_BOM) if data.startswith(_BOM) else 0
    while start < len(data) and data[start] in b" \t\r\n":
        start += 1
    return start


@dataclass
class _Isa:
    segment: Segment
    delimiters: Delimiters
    end: int  # offset just after the ISA's segment terminator


def _isa_error(message: str, position: int, note: str, **facts) -> X12Error:
    return X12Error(message, segment="ISA", position=position, reason="bad_isa", interchange_note=note, **facts)


def _split_isa(text: str, start: int) -> tuple[str, int]:
    """The element separator (byte 3) and the offset of the 16th separator, found within the first 106 bytes.

    ISA is split by its element separator rather than by fixed columns, so an ISA whose fields are not
    padded to width (as some real senders write it) is read the same way.
    """
    if len(text) < start + 4:
        raise _isa_error("the ISA header is truncated", start, "023")
    separator = text[start + 3]
    if separator.isalnum() or separator in _WHITESPACE:
        raise _isa_error(f"ISA byte 4 {separator!r} cannot be the element separator", start + 3, "026", value=separator)
    limit = min(len(text), start + ISA_LENGTH)
    last = start + 3
    for found in range(2, 17):
        last = text.find(separator, last + 1, limit)
        if last == -1:
            raise _isa_error(
                f"the ISA header is incomplete: found {found - 1} of 16 elements separated by {separator!r} "
                f"in its first {ISA_LENGTH} bytes",
                start,
                "023" if limit == len(text) else "026",
            )
    return separator, last


def _isa_delimiters(text: str, separator: str, last: int) -> tuple[str, str]:
    """ISA16 is the sub-element separator and the byte after it the segment terminator."""
    if last + 2 >= len(text):
        raise _isa_error(
            "the ISA header is truncated: ISA16 and the segment terminator are missing",
            last + 1,
            "023",
            element="ISA16",
        )
    component, terminator = text[last + 1], text[last + 2]
    found = text[last + 1 : last + 3]
    if component.isalnum() or component in _WHITESPACE or component == separator:
        raise _isa_error(
            f"ISA16 {component!r} cannot be the sub-element separator (found {found!r} after the 16th {separator!r})",
            last + 1,
            "027",
            element="ISA16",
            value=component,
        )
    if terminator.isalnum() or terminator == " " or terminator in (separator, component):
        raise _isa_error(
            f"the byte after ISA16, {terminator!r}, cannot be the segment terminator (found {found!r})",
            last + 1,
            "004",
            element="ISA16",
            value=found,
        )
    return component, terminator


def _isa_segment(text: str, start: int, encoding: str) -> tuple[Segment, int]:
    """The ISA split into its 16 elements (delimiters checked), and the offset just after its terminator."""
    separator, last = _split_isa(text, start)
    component, terminator = _isa_delimiters(text, separator, last)
    elements = text[start + 4 : last + 2].split(separator)
    if encoding == "utf-8" and all(char.isascii() for char in (separator, component, terminator)):
        elements = [value.encode("latin-1").decode("utf-8", "replace") for value in elements]
    delimiters = Delimiters(element=separator, component=component, segment=terminator)
    return Segment("ISA", tuple(elements), 0, start, delimiters, encoding), last + 3


def _check_isa(isa: Segment) -> None:
    """The ISA elements a reply echoes or relies on, in element order, each named when it is wrong."""
    for index, what in ((5, "the sender's id qualifier"), (6, "the interchange sender id")):
        _isa_value(isa, index, what)
    for index, what in ((7, "the receiver's id qualifier"), (8, "the interchange receiver id")):
        _isa_value(isa, index, what)
    interchange_date(isa)
    moment = isa.get(10).strip()
    if not (re.fullmatch(r"[0-9]{4}", moment) and int(moment[:2]) < 24 and int(moment[2:]) < 60):
        raise isa.error(f"ISA10 {isa.get(10)!r} is not an HHMM time", 10, reason="invalid_time")
    if not re.fullmatch(r"[0-9]{5}", isa.get(12).strip()):
        raise isa.error(f"ISA12 {isa.get(12)!r} is not an interchange control version number (5 digits)", 12)
    control_number(isa, 13, what="an interchange control number")
    if isa.get(14).strip() not in ("0", "1"):
        raise isa.error(f"ISA14 {isa.get(14)!r} is not an acknowledgment request (0 or 1)", 14)
    if isa.get(15).strip() not in USAGE_CODES:
        raise isa.error(f"ISA15 {isa.get(15)!r} is not a usage indicator (P, T or I)", 15)


def _isa_value(isa: Segment, index: int, what: str) -> None:
    if index in (5, 7):
        value = envelope_id(isa, index, what=what, limit=2)
        if len(value) != 2:
            raise isa.error(f"ISA{index:02d} {isa.get(index)!r} is not {what} (2 characters)", index)
    else:
        envelope_id(isa, index, what=what, limit=15)


def read_isa_segment(text: str, start: int, encoding: str, warnings: list[X12Warning]) -> _Isa:
    """Split and check the ISA; its delimiters are the interchange's (never assumed)."""
    isa, end = _isa_segment(text, start, encoding)
    if end != start + ISA_LENGTH:
        warnings.append(
            X12Warning(
                f"the ISA header is {end - start} bytes, not the fixed 106; it was read by its element separators",
                segment="ISA",
                position=start,
            )
        )
    plain = isa.delimiters
    repetition = _repetition_separator(
        list(isa.elements), plain.element, plain.component, plain.segment, warnings, start
    )
    delimiters = Delimiters(
        element=plain.element, component=plain.component, segment=plain.segment, repetition=repetition
    )
    isa = Segment("ISA", isa.elements, 0, start, delimiters, encoding)
    _check_isa(isa)
    return _Isa(segment=isa, delimiters=delimiters, end=end)


def read_isa(raw: bytes) -> IsaHeader | None:
    """The ISA of a message as far as it can be split (None when it cannot), so that a TA1 can still answer
    an interchange whose header or body is broken. Nothing is checked beyond the delimiters."""
    data = bytes(raw)
    start = start_of_data(data)
    if data[start : start + 3] != b"ISA":
        return None
    text = data.decode("latin-1")
    try:
        separator, last = _split_isa(text, start)
    except X12Error:
        return None
    component = text[last + 1] if last + 1 < len(text) else ">"
    terminator = text[last + 2] if last + 2 < len(text) else "~"
    elements = tuple(text[start + 4 : last + 2].split(separator))
    delimiters = Delimiters(element=separator, component=component, segment=terminator)
    return IsaHeader(Segment("ISA", elements, 0, start, delimiters, "latin-1"), delimiters)


def _repetition_separator(
    elements: list[str], separator: str, component: str, terminator: str, warnings: list[X12Warning], start: int
) -> str | None:
    """ISA11 is the repetition separator from version 00402 on; before that it is a standards id (``U``)."""
    version, candidate = elements[11], elements[10]
    if not (version.isdigit() and version >= "00402"):
        return None
    if len(candidate) == 1 and not candidate.isalnum() and candidate not in _WHITESPACE:
        if candidate not in (separator, component, terminator):
            return candidate
    warnings.append(
        X12Warning(
            f"ISA11 {candidate!r} cannot be a repetition separator (version {version}); repetitions are not split",
            segment="ISA",
            position=start,
        )
    )
    return None
