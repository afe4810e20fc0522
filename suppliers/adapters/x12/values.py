"""Reading typed values out of X12 elements: strict, and loud about what was expected.

A supplier that silently switches its date format must produce a quarantined message that names the
element, the value and the format, never a guess (``DTM02 '11/28/26' is not a CCYYMMDD date``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from suppliers.adapters.x12.model import Segment

_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)")
_DIGITS = re.compile(r"[0-9]+")
_INTEGER = re.compile(r"-?[0-9]+")
_TIME_FORMATS = {4: "%H%M", 6: "%H%M%S"}
#: R elements (quantities, prices): at most 18 digits (the longest R in the dictionary) of which at most
#: 9 before the decimal point, so that a quantity still fits the database's 32-bit integers once the
#: services convert it; N0 counts at most 9 digits; N2 amounts (TDS01, SAC05) at most 13 digits, since
#: invoice totals are stored with 12 digits before the decimal point.
NUMBER_DIGITS, WHOLE_DIGITS, INTEGER_DIGITS, AMOUNT_DIGITS = 18, 9, 9, 13
#: The delimiters our replies are written with (``writer.ELEMENT``, ``COMPONENT``, ``TERMINATOR``): an
#: envelope value a reply echoes (ISA06, GS02, ST02, ...) may not contain them.
REPLY_DELIMITERS = "*>~"
#: ISA15 usage indicators: production, test, information.
USAGE_CODES = frozenset({"P", "T", "I"})


def text(segment: Segment, index: int, *, required: bool = False, what: str = "a value") -> str | None:
    """The element as text, ``None`` when empty (or an error naming it when it is required)."""
    value = segment.get(index)
    if value == "":
        if required:
            raise segment.error(f"{segment.ref(index)} is missing; expected {what}", index, reason="missing")
        return None
    return value


def _parse_date(value: str, fmt: str) -> date | None:
    """`strptime(value, fmt)` for "%Y%m%d" and "%y%m%d" (two-digit years pivot at 69, as strptime does),
    by slicing: for a value of only digits and of the format's length (what every caller passes), the
    fixed split is strptime's only full match, and `date()` refuses what strptime refuses. Dates are read
    several times per message; strptime costs ten times as much."""
    if not _DIGITS.fullmatch(value):
        return None
    year_digits = 4 if fmt == "%Y%m%d" else 2
    if fmt not in ("%Y%m%d", "%y%m%d") or len(value) != year_digits + 4:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            return None
    year = int(value[:year_digits])
    if year_digits == 2:
        year += 2000 if year < 69 else 1900
    try:
        return date(year, int(value[year_digits : year_digits + 2]), int(value[year_digits + 2 :]))
    except ValueError:
        return None


def required(segment: Segment, index: int, what: str) -> str:
    """The element as text; an error naming it and what was expected when it is empty."""
    value = text(segment, index, required=True, what=what)
    assert value is not None
    return value


def ccyymmdd(segment: Segment, index: int, *, required: bool = False, value: str | None = None) -> date | None:
    """An X12 DT element in CCYYMMDD form (8 digits, a real calendar date).

    ``value`` parses part of the element instead (the start of a ``D8``/``RD8`` period), while errors
    still name the element.
    """
    if value is None:
        value = text(segment, index, required=required, what="a CCYYMMDD date")
    if value is None:
        return None
    parsed = _parse_date(value, "%Y%m%d") if len(value) == 8 else None
    if parsed is None:
        raise segment.error(
            f"{segment.ref(index)} {segment.get(index)!r} is not a CCYYMMDD date", index, reason="invalid_date"
        )
    return parsed


def required_date(segment: Segment, index: int) -> date:
    """A mandatory CCYYMMDD element."""
    parsed = ccyymmdd(segment, index, required=True)
    assert parsed is not None
    return parsed


def interchange_date(isa: Segment) -> date:
    """ISA09 is YYMMDD; two-digit years pivot as in C: 00-68 are 2000-2068, 69-99 are 1969-1999."""
    value = isa.get(9)
    parsed = _parse_date(value, "%y%m%d") if len(value) == 6 else None
    if parsed is None:
        raise isa.error(f"ISA09 {value!r} is not a YYMMDD date", 9, reason="invalid_date")
    return parsed


def group_date(gs: Segment) -> date:
    """GS04: CCYYMMDD since version 004010, YYMMDD in older groups; both are accepted here."""
    value = gs.get(4)
    if len(value) == 6:
        parsed = _parse_date(value, "%y%m%d")
    elif len(value) == 8:
        parsed = _parse_date(value, "%Y%m%d")
    else:
        parsed = None
    if parsed is None:
        raise gs.error(f"GS04 {value!r} is not a CCYYMMDD date", 4, reason="invalid_date")
    return parsed


def hhmm(segment: Segment, index: int, *, required: bool = False) -> time | None:
    """An X12 TM element: HHMM or HHMMSS, optionally followed by decimal seconds (dropped)."""
    value = text(segment, index, required=required, what="an HHMM time")
    if value is None:
        return None
    head = value[:6] if len(value) > 6 else value
    parsed = None
    if _DIGITS.fullmatch(value) and len(head) in _TIME_FORMATS:
        try:
            parsed = datetime.strptime(head, _TIME_FORMATS[len(head)]).time()
        except ValueError:
            parsed = None
    if parsed is None:
        raise segment.error(f"{segment.ref(index)} {value!r} is not an HHMM time", index, reason="invalid_time")
    return parsed


def number(segment: Segment, index: int, *, required: bool = False, what: str = "a number") -> Decimal | None:
    """An X12 R (decimal) element: optional minus, digits, optional decimal point. No exponent, no commas."""
    value = text(segment, index, required=required, what=what)
    if value is None:
        return None
    candidate = value.strip(" ")
    if not _NUMBER.fullmatch(candidate):
        raise segment.error(f"{segment.ref(index)} {value!r} is not a number", index, reason="not_a_number")
    whole, _, fraction = candidate.lstrip("-").partition(".")
    if len(whole) + len(fraction) > NUMBER_DIGITS:
        raise segment.error(
            f"{segment.ref(index)} has {len(whole) + len(fraction)} digits; an X12 number has at most {NUMBER_DIGITS}",
            index,
            reason="too_long",
        )
    if len(whole.lstrip("0")) > WHOLE_DIGITS:
        raise segment.error(
            f"{segment.ref(index)} {value!r} is too large: we read at most {WHOLE_DIGITS} digits before the decimal "
            "point",
            index,
            reason="too_long",
        )
    try:
        return Decimal(candidate)
    except InvalidOperation:  # pragma: no cover - the pattern already rules this out
        raise segment.error(f"{segment.ref(index)} {value!r} is not a number", index, reason="not_a_number") from None


def required_number(segment: Segment, index: int, what: str) -> Decimal:
    """A mandatory R element (SN102: the quantity shipped)."""
    parsed = number(segment, index, required=True, what=what)
    assert parsed is not None
    return parsed


def implied_decimal(segment: Segment, index: int, places: int, *, required: bool = False) -> Decimal | None:
    """An X12 Nn element: digits with ``places`` implied decimals (TDS01 ``36596`` is 365.96)."""
    value = text(segment, index, required=required, what=f"an N{places} amount")
    if value is None:
        return None
    if not _INTEGER.fullmatch(value):
        raise segment.error(
            f"{segment.ref(index)} {value!r} is not an N{places} amount (digits with {places} implied decimals)",
            index,
            reason="not_a_number",
        )
    if len(value.lstrip("-").lstrip("0")) > AMOUNT_DIGITS:
        raise segment.error(
            f"{segment.ref(index)} has {len(value.lstrip('-'))} digits; we read N{places} amounts of at most "
            f"{AMOUNT_DIGITS}",
            index,
            reason="too_long",
        )
    return Decimal(value).scaleb(-places)


def integer(segment: Segment, index: int, *, required: bool = False, what: str = "a whole number") -> int | None:
    """An X12 N0 element (counts such as CTT01, AK902)."""
    value = text(segment, index, required=required, what=what)
    if value is None:
        return None
    candidate = value.strip(" ")
    if not _INTEGER.fullmatch(candidate):
        raise segment.error(f"{segment.ref(index)} {value!r} is not a whole number", index, reason="not_a_number")
    if len(candidate.lstrip("-").lstrip("0")) > INTEGER_DIGITS:
        raise segment.error(
            f"{segment.ref(index)} {value!r} is too large: a count has at most {INTEGER_DIGITS} digits",
            index,
            reason="too_long",
        )
    return int(candidate)


def qualified_ids(segment: Segment, first: int) -> dict[str, str]:
    """Qualifier/ID pairs from element ``first`` on (LIN02/03, LIN04/05, ...; PO106/07, ...).

    Empty slots (both empty) are skipped, as suppliers leave gaps (``LIN*4*UP*0588***BP*0111``). A
    qualifier without an ID is skipped too; an ID without a qualifier is ambiguous and refused, and so is
    one qualifier carrying two different IDs.
    """
    ids: dict[str, str] = {}
    for qualifier_index in range(first, len(segment.elements) + 1, 2):
        qualifier = segment.get(qualifier_index).strip()
        value = segment.get(qualifier_index + 1)
        if value == "":
            continue
        if qualifier == "":
            raise segment.error(
                f"{segment.ref(qualifier_index + 1)} {value!r} has no product ID qualifier in "
                f"{segment.ref(qualifier_index)}",
                qualifier_index + 1,
                reason="missing",
            )
        if ids.get(qualifier, value) != value:
            raise segment.error(
                f"{segment.ref(qualifier_index)} qualifier {qualifier!r} repeats with another ID {value!r} "
                f"(first {ids[qualifier]!r})",
                qualifier_index + 1,
            )
        ids[qualifier] = value
    return ids


def control_number(segment: Segment, index: int, *, what: str) -> str:
    """A control number (ISA13, GS06, AK102): 1 to 9 ASCII digits, returned as sent."""
    value = segment.get(index).strip()
    if value == "":
        raise segment.error(
            f"{segment.ref(index)} is missing; expected {what} (up to 9 digits)", index, reason="missing"
        )
    if not _DIGITS.fullmatch(value) or len(value) > 9:
        raise segment.error(f"{segment.ref(index)} {segment.get(index)!r} is not {what} (up to 9 digits)", index)
    return value


def envelope_id(
    segment: Segment, index: int, *, what: str, limit: int, required: bool = True, reason: str = "invalid_value"
) -> str:
    """An envelope value our replies echo (ISA05-08, GS01-03, ST02): present when required, at most ``limit``
    characters (padding aside), printable ASCII, and free of the delimiters the replies are written with."""
    value = segment.get(index).strip()
    ref = segment.ref(index)
    if value == "":
        if required:
            raise segment.error(f"{ref} is missing; expected {what}", index, reason="missing")
        return value
    if len(value) > limit:
        raise segment.error(
            f"{ref} is {len(value)} characters long; {what} has at most {limit}", index, reason="too_long"
        )
    bad = next((char for char in value if not (char.isascii() and char.isprintable())), None)
    if bad is not None:
        raise segment.error(f"{ref} {value!r} contains {bad!r}, which is not printable ASCII", index, reason=reason)
    bad = next((char for char in value if char in REPLY_DELIMITERS), None)
    if bad is not None:
        raise segment.error(
            f"{ref} {value!r} contains {bad!r}, a delimiter of our acknowledgements, which could not echo it",
            index,
            reason=reason,
        )
    return value
