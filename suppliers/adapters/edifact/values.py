"""Reading typed values out of EDIFACT elements: strict, and loud about what was expected.

Numbers use the decimal mark the interchange declares (UNA3, ``.`` by default); a number written with
the other mark is refused rather than guessed, as is a date that does not match its format qualifier
(DTM C507 2379). Product ids are keyed by the X12 qualifier that means the same thing (EDIFACT ``SA``
supplier's article number → ``VP``, ``IN`` buyer's item number → ``BP``, ...), so the services and
the supplier profiles read one vocabulary whatever the format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from suppliers.adapters.edifact.model import Segment
from suppliers.profiles import NO_PROFILE, DocumentProfile

#: Quantities and prices: at most 9 digits before the decimal mark (a line quantity must fit the
#: database's 32-bit integers after the services convert it); monetary totals (MOA): at most 11.
QUANTITY_DIGITS = 9
AMOUNT_DIGITS = 11
#: The longest numeric data element in the directories (6060 quantity is n..35 from D.01B on).
MAX_NUMBER_LENGTH = 35
#: DTM C507 2379 format qualifiers we read: strptime pattern, length, and the name in reasons.
DATE_FORMATS = {
    "101": ("%y%m%d", 6, "YYMMDD"),
    "102": ("%Y%m%d", 8, "CCYYMMDD"),
    "201": ("%y%m%d%H%M", 10, "YYMMDDHHMM"),
    "203": ("%Y%m%d%H%M", 12, "CCYYMMDDHHMM"),
    "204": ("%Y%m%d%H%M%S", 14, "CCYYMMDDHHMMSS"),
    "718": ("%Y%m%d", 8, "CCYYMMDD-CCYYMMDD"),
    "719": ("%Y%m%d%H%M", 12, "CCYYMMDDHHMM-CCYYMMDDHHMM"),
}
#: Without 2379, the format follows from the length of the value.
FORMAT_BY_LENGTH = {8: "102", 12: "203", 14: "204"}
#: 7143 item type → the qualifier the canonical documents use (X12's). Unlisted types keep their code.
ITEM_TYPES = {
    "EN": "EN",  # EAN / GTIN-13
    "SRV": "EN",  # GS1 global trade item number
    "UP": "UP",  # UPC
    "SA": "VP",  # supplier's article number
    "VN": "VN",  # vendor item number
    "VP": "VP",  # vendor part number
    "IN": "BP",  # buyer's item number: our SKU
    "BP": "BP",  # buyer's part number: our SKU
    "MF": "MF",  # manufacturer's article number
    "IB": "IB",  # ISBN
}
#: Item types that name a lot or a single piece, not a product.
NOT_PRODUCT_TYPES = frozenset({"NB", "SN", "BN"})
#: Measure unit codes (UN/ECE Recommendation 20) that mean "each", written as the services' EA.
EACH_UNITS = frozenset({"PCE", "C62", "NAR", "EA", "EACH"})
_DIGITS = re.compile(r"[0-9]+")


def text(
    segment: Segment, index: int, component: int | None = None, *, required: bool = False, what: str = "a value"
) -> str | None:
    """An element or component as text; None when empty (or an error naming it when required)."""
    value = segment.get(index, component or 1)
    if value == "":
        if required:
            raise segment.error(
                f"{segment.ref(index, component)} is missing; expected {what}", index, component, reason="missing"
            )
        return None
    return value


def required(segment: Segment, index: int, component: int | None, what: str, *, limit: int | None = None) -> str:
    """A mandatory element as text; with ``limit``, also no longer than its representation allows."""
    value = text(segment, index, component, required=True, what=what)
    assert value is not None
    if limit is not None and len(value) > limit:
        raise segment.error(
            f"{segment.ref(index, component)} is {len(value)} characters long; {what} has at most {limit}",
            index,
            component,
            reason="too_long",
        )
    return value


def number(
    segment: Segment,
    index: int,
    component: int | None = None,
    *,
    required: bool = False,
    what: str = "a number",
    digits: int = QUANTITY_DIGITS,
) -> Decimal | None:
    """A numeric element: optional minus, digits, optionally the declared decimal mark and more digits."""
    value = text(segment, index, component, required=required, what=what)
    if value is None:
        return None
    ref, mark = segment.ref(index, component), segment.chars.decimal
    other = "," if mark == "." else "."
    if len(value) > MAX_NUMBER_LENGTH:
        raise segment.error(
            f"{ref} is {len(value)} characters long; a number has at most {MAX_NUMBER_LENGTH}",
            index,
            component,
            reason="too_long",
        )
    unsigned = value[1:] if value.startswith("-") else value
    whole, _, fraction = unsigned.partition(mark)
    if other in unsigned and mark not in unsigned and _DIGITS.fullmatch(unsigned.replace(other, "", 1)):
        raise segment.error(
            f"{ref} {value!r} uses {other!r} as decimal mark; this interchange declares {mark!r} (UNA3)",
            index,
            component,
            reason="decimal_mark",
        )
    if whole == "" and _DIGITS.fullmatch(fraction):
        raise segment.error(
            f"{ref} {value!r} has no digit before the decimal mark", index, component, reason="decimal_mark"
        )
    if not _DIGITS.fullmatch(whole) or (fraction and not _DIGITS.fullmatch(fraction)):
        raise segment.error(f"{ref} {value!r} is not a number", index, component, reason="not_a_number")
    if len(whole.lstrip("0")) > digits:
        raise segment.error(
            f"{ref} {value!r} is too large: we read at most {digits} digits before the decimal mark",
            index,
            component,
            reason="too_long",
        )
    return Decimal(("-" if value.startswith("-") else "") + whole + (f".{fraction}" if fraction else ""))


def line_number(value: str | None) -> int | None:
    """A line item number (1082, n..6) as an int, None when it is not one."""
    if value and _DIGITS.fullmatch(value) and len(value) <= 6 and int(value) > 0:
        return int(value)
    return None


def dtm(segment: Segment, profile: DocumentProfile = NO_PROFILE) -> tuple[str, date]:
    """A DTM segment: its qualifier (2005) and its date (2380 read by the format 2379; a range keeps its
    start; a time of day is dropped). A value that does not read in its format may still read in a
    pattern the supplier's profile accepts for DTM01-2 (suppliers.profiles)."""
    qualifier = required(segment, 1, 1, "a date/time qualifier (2005)")
    value = required(segment, 1, 2, "a date (2380)")
    code = segment.get(1, 3) or FORMAT_BY_LENGTH.get(len(value))
    if code is None:
        raise segment.error(
            f"{segment.ref(1, 3)} is missing and {value!r} is no CCYYMMDD date; expected a date format code (2379)",
            1,
            3,
            reason="missing",
        )
    if code not in DATE_FORMATS:
        raise segment.error(
            f"{segment.ref(1, 3)} {code!r} is not a date format we read ({', '.join(DATE_FORMATS)})",
            1,
            3,
        )
    pattern, length, name = DATE_FORMATS[code]
    head = value.split("-", 1)[0] if code in ("718", "719") else value
    parsed = None
    if _DIGITS.fullmatch(head) and len(head) == length:
        try:
            parsed = datetime.strptime(head, pattern).date()
        except ValueError:
            parsed = None
    if parsed is None:
        parsed = profile.parse_date(segment.ref(1, 2), value)
    if parsed is None:
        raise segment.error(
            f"{segment.ref(1, 2)} {value!r} is not a date in format {code} ({name})", 1, 2, reason="invalid_date"
        )
    return qualifier, parsed


def dates(segments: Iterable[Segment], profile: DocumentProfile = NO_PROFILE) -> dict[str, date]:
    """Every DTM among ``segments`` by qualifier (the first of each wins)."""
    found: dict[str, date] = {}
    for segment in segments:
        if segment.tag == "DTM":
            qualifier, value = dtm(segment, profile)
            found.setdefault(qualifier, value)
    return found


def unit(code: str | None) -> str | None:
    """A measure unit (6411) as the services know it: the Recommendation 20 codes for "each" become EA."""
    if not code:
        return None
    code = code.strip().upper()
    return "EA" if code in EACH_UNITS else code


def _add_id(ids: dict[str, str], segment: Segment, index: int) -> None:
    value, kind = segment.get(index, 1), segment.get(index, 2).strip()
    if value == "":
        return
    if kind == "":
        raise segment.error(
            f"{segment.ref(index, 2)} is missing; {segment.ref(index, 1)} {value!r} needs an item type "
            "(7143: EN, SA, IN, ...)",
            index,
            2,
            reason="missing",
        )
    if kind in NOT_PRODUCT_TYPES:
        return
    qualifier = ITEM_TYPES.get(kind, kind)
    if ids.get(qualifier, value) != value:
        raise segment.error(
            f"{segment.ref(index, 1)} {value!r} is a second {kind} id for the item (first {ids[qualifier]!r})",
            index,
            1,
        )
    ids[qualifier] = value


def product_ids(lin: Segment, others: Iterable[Segment]) -> dict[str, str]:
    """The item's ids from LIN03 (C212) and every PIA (PIA02..PIA06), keyed by canonical qualifier."""
    ids: dict[str, str] = {}
    _add_id(ids, lin, 3)
    for segment in others:
        if segment.tag == "PIA":
            for index in range(2, min(len(segment.elements), 6) + 1):
                _add_id(ids, segment, index)
    return ids
