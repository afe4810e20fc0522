"""What one version of a supplier profile says, validated: the JSON ops edit (admin, API) in and out.

Every field is optional; an empty profile behaves exactly like no profile (the strict defaults of
docs/SUPPLIERS.md). `ProfileSettings.from_json` refuses anything it does not understand with
`ProfileInvalid`, naming the field, so a typo never silently changes how a supplier is read.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from scm.errors import ValidationFailed
from suppliers.profiles.dates import BadPattern, compile_pattern

#: Element references as errors name them: X12 `DTM02`, `BSN03`; EDIFACT `DTM01-2`, `BGM02`.
ELEMENT_REF = re.compile(r"^[A-Z][A-Z0-9]{1,2}[0-9A-Z.\-]{0,20}$")
SEGMENT_TAG = re.compile(r"^[A-Z][A-Z0-9]{1,2}$")
UNIT_CODE = re.compile(r"^[A-Z0-9]{1,4}$")
QUALIFIER = re.compile(r"^[A-Z0-9]{1,3}$")
#: A unit factor: a whole number of base units, or "pack" (the item's pack size).
PACK = "pack"
MAX_PERCENT = Decimal(1000)
FIELDS = (
    "date_formats",
    "unit_aliases",
    "unit_factors",
    "product_qualifiers",
    "part_number",
    "qty_tolerance_pct",
    "price_tolerance_pct",
    "over_shipment_pct",
    "ignore",
)
PART_NUMBER_RULES = ("trim", "strip_leading_zeros", "uppercase")


class ProfileInvalid(ValidationFailed):
    code = "invalid_profile"

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}", field=field_name)


@dataclass(frozen=True)
class IgnoreRule:
    """A known deviation: a syntax error in `segment` (naming `element`, or any element when empty)
    drops that segment with a warning instead of quarantining the message."""

    segment: str
    element: str = ""
    note: str = ""

    def covers(self, segment: str | None, element: str | None) -> bool:
        return segment == self.segment and (not self.element or element == self.element)


@dataclass(frozen=True)
class ProfileSettings:
    date_formats: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unit_aliases: dict[str, str] = field(default_factory=dict)
    unit_factors: dict[str, int | str] = field(default_factory=dict)
    product_qualifiers: tuple[str, ...] = ()
    part_number: dict[str, bool] = field(default_factory=dict)
    qty_tolerance_pct: Decimal = Decimal(0)
    price_tolerance_pct: Decimal = Decimal(0)
    over_shipment_pct: Decimal | None = None
    ignore: tuple[IgnoreRule, ...] = ()

    @classmethod
    def from_json(cls, data: Any) -> ProfileSettings:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ProfileInvalid("settings", "must be an object")
        unknown = sorted(set(data) - set(FIELDS))
        if unknown:
            raise ProfileInvalid(unknown[0], f"is not a profile field (fields: {', '.join(FIELDS)})")
        return cls(
            date_formats=_date_formats(data.get("date_formats")),
            unit_aliases=_unit_aliases(data.get("unit_aliases")),
            unit_factors=_unit_factors(data.get("unit_factors")),
            product_qualifiers=_qualifiers(data.get("product_qualifiers")),
            part_number=_part_number(data.get("part_number")),
            qty_tolerance_pct=_percent("qty_tolerance_pct", data.get("qty_tolerance_pct"), default=Decimal(0)),
            price_tolerance_pct=_percent("price_tolerance_pct", data.get("price_tolerance_pct"), default=Decimal(0)),
            over_shipment_pct=_percent("over_shipment_pct", data.get("over_shipment_pct"), default=None),
            ignore=_ignore(data.get("ignore")),
        )

    def to_json(self) -> dict[str, Any]:
        """The canonical JSON (what is stored and shown); from_json(to_json()) is the same settings."""
        data = asdict(self)
        data["date_formats"] = {key: list(value) for key, value in self.date_formats.items()}
        data["product_qualifiers"] = list(self.product_qualifiers)
        data["ignore"] = [asdict(rule) for rule in self.ignore]
        for name in ("qty_tolerance_pct", "price_tolerance_pct", "over_shipment_pct"):
            value = getattr(self, name)
            data[name] = None if value is None else str(value)
        return data

    def changed_fields(self, other: ProfileSettings) -> list[str]:
        return [name for name in FIELDS if getattr(self, name) != getattr(other, name)]


def _mapping(name: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProfileInvalid(name, "must be an object")
    return value


def _date_formats(value: Any) -> dict[str, tuple[str, ...]]:
    formats = {}
    for element, patterns in _mapping("date_formats", value).items():
        key = str(element).strip().upper()
        if not ELEMENT_REF.match(key):
            raise ProfileInvalid("date_formats", f"{element!r} is not an element reference such as DTM02")
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns:
            raise ProfileInvalid("date_formats", f"{key} needs a list of patterns such as ['MM/DD/YY']")
        cleaned = []
        for pattern in patterns:
            try:
                compile_pattern(pattern)
            except BadPattern as exc:
                raise ProfileInvalid("date_formats", f"{key}: {exc}") from None
            if pattern.upper() not in cleaned:
                cleaned.append(pattern.upper())
        formats[key] = tuple(cleaned)
    return dict(sorted(formats.items()))


def _unit_aliases(value: Any) -> dict[str, str]:
    aliases = {}
    for theirs, ours in _mapping("unit_aliases", value).items():
        code, target = str(theirs).strip().upper(), str(ours).strip().upper()
        if not UNIT_CODE.match(code) or not UNIT_CODE.match(target):
            raise ProfileInvalid("unit_aliases", f"{theirs!r} → {ours!r}: unit codes are 1 to 4 letters or digits")
        aliases[code] = target
    return dict(sorted(aliases.items()))


def _unit_factors(value: Any) -> dict[str, int | str]:
    factors: dict[str, int | str] = {}
    for unit, factor in _mapping("unit_factors", value).items():
        code = str(unit).strip().upper()
        if not UNIT_CODE.match(code):
            raise ProfileInvalid("unit_factors", f"{unit!r} is not a unit code")
        if isinstance(factor, str) and factor.strip().lower() == PACK:
            factors[code] = PACK
        elif isinstance(factor, int) and not isinstance(factor, bool) and 1 <= factor <= 1_000_000:
            factors[code] = factor
        else:
            raise ProfileInvalid("unit_factors", f"{code}: {factor!r} must be 'pack' or a whole number 1..1000000")
    return dict(sorted(factors.items()))


def _qualifiers(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list):
        raise ProfileInvalid("product_qualifiers", "must be a list such as ['VP', 'BP', 'UP']")
    cleaned: list[str] = []
    for qualifier in value:
        code = str(qualifier).strip().upper()
        if not QUALIFIER.match(code):
            raise ProfileInvalid("product_qualifiers", f"{qualifier!r} is not a product id qualifier")
        if code in cleaned:
            raise ProfileInvalid("product_qualifiers", f"{code} is listed twice")
        cleaned.append(code)
    return tuple(cleaned)


def _part_number(value: Any) -> dict[str, bool]:
    rules = _mapping("part_number", value)
    unknown = sorted(set(rules) - set(PART_NUMBER_RULES))
    if unknown:
        raise ProfileInvalid("part_number", f"{unknown[0]!r} is not a rule ({', '.join(PART_NUMBER_RULES)})")
    if any(not isinstance(flag, bool) for flag in rules.values()):
        raise ProfileInvalid("part_number", "each rule is true or false")
    return {name: True for name in PART_NUMBER_RULES if rules.get(name)}


def _percent(name: str, value: Any, *, default: Decimal | None) -> Decimal | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ProfileInvalid(name, "must be a number of percent")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ProfileInvalid(name, f"{value!r} is not a number of percent") from None
    if not number.is_finite() or number < 0 or number > MAX_PERCENT:
        raise ProfileInvalid(name, f"{value!r} must be between 0 and {MAX_PERCENT} percent")
    return _plain(number)


def _plain(number: Decimal) -> Decimal:
    """5.50 → 5.5 and 100 → 100 (never 1E+2), so stored settings read as typed."""
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def _ignore(value: Any) -> tuple[IgnoreRule, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ProfileInvalid("ignore", "must be a list of {segment, element, note}")
    rules = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"segment", "element", "note"}:
            raise ProfileInvalid("ignore", "each entry is {segment, element (optional), note (optional)}")
        segment = str(entry.get("segment") or "").strip().upper()
        element = str(entry.get("element") or "").strip().upper()
        if not SEGMENT_TAG.match(segment):
            raise ProfileInvalid("ignore", f"{entry.get('segment')!r} is not a segment tag such as PID")
        if element and (not ELEMENT_REF.match(element) or not element.startswith(segment)):
            raise ProfileInvalid("ignore", f"{element!r} is not an element of {segment} (e.g. {segment}02)")
        rules.append(IgnoreRule(segment=segment, element=element, note=str(entry.get("note") or "")[:200]))
    return tuple(rules)
