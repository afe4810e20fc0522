"""What every mapper shares: the ST01 check and error stamping, repeated-segment checks, DTM/REF/PID
readers, N1 party loops and the PO1/IT1 line elements.

Mappers of supplier documents (855, 856, 810, 846) take the supplier's profile
(`suppliers.profiles.DocumentProfile`; none means the strict defaults): dates go through
`date_element`, which accepts the profile's patterns for an element after the standard CCYYMMDD.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from suppliers.adapters.x12.documents import Party
from suppliers.adapters.x12.errors import X12Error
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import ccyymmdd, number, qualified_ids, required, text
from suppliers.profiles import NO_PROFILE, DocumentProfile

T = TypeVar("T")


def maps(code: str, *, profiled: bool = False) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Check ST01 before mapping, and stamp every error with the set and group it came from.
    `profiled` mappers get the supplier's profile (`profile=`, default: none)."""

    def decorate(mapper: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(mapper)
        def wrapper(tset: TransactionSet, profile: DocumentProfile | None = None) -> T:
            try:
                if tset.code != code:
                    raise tset.st.error(
                        f"set {tset.control_number} is a {tset.code}, not a {code}", 1, reason="wrong_set"
                    )
                return mapper(tset, profile or NO_PROFILE) if profiled else mapper(tset)
            except X12Error as error:
                raise error.in_set(group_control=tset.group_control, set_control=tset.control_number) from None

        return wrapper

    return decorate


def missing(tset: TransactionSet, tag: str, what: str) -> X12Error:
    return X12Error(
        f"set {tset.control_number} has no {tag} segment ({what})",
        segment=tag,
        position=tset.st.offset,
        reason="missing",
    )


def only_one(seen: Segment | None, segment: Segment) -> Segment:
    if seen is not None:
        raise segment.error(
            f"{segment.tag} at byte {segment.offset} repeats the {segment.tag} at byte {seen.offset}",
            reason="invalid_value",
        )
    return segment


def date_element(
    segment: Segment,
    index: int,
    profile: DocumentProfile = NO_PROFILE,
    *,
    required: bool = False,
    value: str | None = None,
) -> date | None:
    """A CCYYMMDD element, or a date in one of the patterns the supplier's profile accepts for it
    (e.g. DTM02 ``MM/DD/YY``). When neither reads it, the standard format's precise error stands."""
    try:
        return ccyymmdd(segment, index, required=required, value=value)
    except X12Error as error:
        if error.reason != "invalid_date":
            raise
        parsed = profile.parse_date(segment.ref(index), value if value is not None else segment.get(index))
        if parsed is None:
            raise
        return parsed


def _dtm(segment: Segment, profile: DocumentProfile) -> tuple[str, date] | None:
    """DTM01 qualifier with DTM02 (CCYYMMDD), or DTM05/06 in ``D8``/``RD8`` form (a range keeps its start)."""
    qualifier = required(segment, 1, "a date/time qualifier")
    when = date_element(segment, 2, profile)
    if when is None and segment.get(5) in ("D8", "RD8") and segment.get(6):
        when = date_element(segment, 6, profile, value=segment.get(6).split("-", 1)[0])
    return (qualifier, when) if when is not None else None


def add_date(dates: dict[str, date], segment: Segment, profile: DocumentProfile = NO_PROFILE) -> None:
    found = _dtm(segment, profile)
    if found is not None:
        dates.setdefault(*found)


def add_ref(references: dict[str, str], segment: Segment) -> None:
    qualifier = text(segment, 1, required=True, what="a reference qualifier")
    value = segment.get(2) or segment.get(3)
    if qualifier and value:
        references.setdefault(qualifier, value)


def description(current: str | None, segment: Segment) -> str | None:
    """PID05 free-form description; the first one of a line wins."""
    return current if current is not None else text(segment, 5)


@dataclass
class Parties:
    """Collects N1 loops (N1 name, N2 extra name, N3 address, N4 city/state/zip/country)."""

    parties: list[dict[str, Any]] = field(default_factory=list)

    def take(self, segment: Segment) -> bool:
        if segment.tag == "N1":
            self.parties.append(
                {
                    "entity": text(segment, 1, required=True, what="an entity identifier code"),
                    "name": text(segment, 2),
                    "id_qualifier": text(segment, 3),
                    "id": text(segment, 4),
                    "address": [],
                }
            )
            return True
        if segment.tag not in ("N2", "N3", "N4") or not self.parties:
            return False
        party = self.parties[-1]
        if segment.tag == "N2":
            if party["name"] is None:
                party["name"] = text(segment, 1)
        elif segment.tag == "N3":
            party["address"].extend(value for value in (segment.get(1), segment.get(2)) if value)
        else:
            party.update(city=text(segment, 1), state=text(segment, 2), postal_code=text(segment, 3))
            party["country"] = text(segment, 4)
        return True

    def freeze(self) -> tuple[Party, ...]:
        return tuple(Party(**{**party, "address": tuple(party["address"])}) for party in self.parties)


@dataclass
class Header:
    """The header segments most sets share: CUR (currency), REF (references, unless `with_references`
    is off), DTM (dates, read under the supplier's `profile`) and the N1 loops (parties); anything else
    is ignored."""

    with_references: bool = True
    profile: DocumentProfile = NO_PROFILE
    currency: str | None = None
    references: dict[str, str] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)
    parties: Parties = field(default_factory=Parties)

    def take(self, segment: Segment) -> None:
        tag = segment.tag
        if tag == "CUR":
            self.currency = text(segment, 2)
        elif tag == "REF" and self.with_references:
            add_ref(self.references, segment)
        elif tag == "DTM":
            add_date(self.dates, segment, self.profile)
        else:
            self.parties.take(segment)


def line_fields(segment: Segment, ids_from: int) -> dict[str, Any]:
    """PO1 and IT1 share their first elements: number, quantity, unit, unit price, price basis, IDs."""
    return {
        "line_number": text(segment, 1),
        "quantity": number(segment, 2),
        "unit": text(segment, 3),
        "unit_price": number(segment, 4),
        "price_basis": text(segment, 5),
        "product_ids": qualified_ids(segment, ids_from),
        "ordinal": segment.ordinal,
    }
