"""The generic X12 tree the reader returns: interchange → functional groups → transaction sets → segments.

Nothing here knows what an 856 means; the mappers do. Every segment keeps its byte offset in the raw
message and its position in its transaction set, so any later error can point at the exact place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from suppliers.adapters.x12.errors import X12Error, X12Warning
from suppliers.adapters.x12.values import group_date, interchange_date


@dataclass(frozen=True, slots=True)
class Delimiters:
    """The separators an interchange declares in its ISA header (never assumed)."""

    element: str
    component: str
    segment: str
    repetition: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: its tag and its elements as text (``elements[0]`` is element 01).

    ``ordinal`` is the 1-based position in the transaction set (ST = 1, as SE01 counts and AK302
    reports); envelope segments (ISA, GS, GE, IEA) have ordinal 0. ``offset`` is the byte offset of the
    tag in the raw message.
    """

    tag: str
    elements: tuple[str, ...]
    ordinal: int
    offset: int
    delimiters: Delimiters = field(repr=False, compare=False)
    encoding: str = field(default="ascii", repr=False, compare=False)

    def get(self, index: int) -> str:
        """Element ``index`` (1-based, as X12 numbers them); ``""`` when absent or empty."""
        if 1 <= index <= len(self.elements):
            return self.elements[index - 1]
        return ""

    def ref(self, index: int) -> str:
        """The X12 reference of an element, e.g. ``DTM02``."""
        return f"{self.tag}{index:02d}"

    def components(self, index: int) -> list[str]:
        """Element ``index`` split at the component (sub-element) separator."""
        return self.get(index).split(self.delimiters.component)

    def repetitions(self, index: int) -> list[str]:
        """Element ``index`` split at the repetition separator (00402 and later), else the whole value."""
        value = self.get(index)
        if self.delimiters.repetition is None:
            return [value]
        return value.split(self.delimiters.repetition)

    def element_offset(self, index: int) -> int:
        """Byte offset of element ``index`` in the raw message (the segment's offset if it is absent)."""
        if not 1 <= index <= len(self.elements):
            return self.offset
        preceding = len(self.tag.encode(self.encoding)) + 1
        for value in self.elements[: index - 1]:
            preceding += len(value.encode(self.encoding)) + 1
        return self.offset + preceding

    def error(self, message: str, index: int | None = None, *, reason: str = "invalid_value") -> X12Error:
        """An :class:`X12Error` that points at this segment (and element ``index`` when given)."""
        return X12Error(
            message,
            segment=self.tag,
            element=self.ref(index) if index is not None else None,
            value=self.get(index) if index is not None else None,
            position=self.element_offset(index) if index is not None else self.offset,
            ordinal=self.ordinal or None,
            reason=reason,
        )

    def __str__(self) -> str:
        return self.delimiters.element.join((self.tag, *self.elements))


@dataclass(frozen=True, slots=True)
class TransactionSet:
    """One ST…SE transaction set; ``segments`` includes ST and SE."""

    code: str
    control_number: str
    group_control: str
    segments: tuple[Segment, ...]

    @property
    def st(self) -> Segment:
        return self.segments[0]

    @property
    def se(self) -> Segment:
        return self.segments[-1]

    @property
    def body(self) -> tuple[Segment, ...]:
        """The segments between ST and SE, which is what a mapper reads."""
        return self.segments[1:-1]

    @property
    def offset(self) -> int:
        return self.st.offset


@dataclass(frozen=True, slots=True)
class FunctionalGroup:
    """One GS…GE functional group."""

    gs: Segment
    ge: Segment
    transaction_sets: tuple[TransactionSet, ...]

    @property
    def functional_id(self) -> str:
        """GS01, e.g. ``SH`` for ship notices, ``PR`` for PO acknowledgements."""
        return self.gs.get(1)

    @property
    def sender(self) -> str:
        """GS02, the application sender's code (surrounding spaces removed)."""
        return self.gs.get(2).strip()

    @property
    def receiver(self) -> str:
        """GS03, the application receiver's code (surrounding spaces removed)."""
        return self.gs.get(3).strip()

    @property
    def date(self) -> date:
        return group_date(self.gs)

    @property
    def time(self) -> str:
        return self.gs.get(5)

    @property
    def control_number(self) -> str:
        """GS06."""
        return self.gs.get(6)

    @property
    def version(self) -> str:
        """GS08, e.g. ``004010`` or ``004010VICS``."""
        return self.gs.get(8)

    @property
    def declared_set_count(self) -> int | None:
        """GE01 as an integer, or None if it is not one."""
        value = self.ge.get(1)
        return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


@dataclass(frozen=True, slots=True)
class IsaHeader:
    """The ISA as split by its element separator: what a TA1 answers, also when the ISA or the rest of the
    interchange is invalid. Values are as sent, padding stripped; the TA1 writer checks each before use."""

    isa: Segment
    delimiters: Delimiters

    @property
    def sender_qualifier(self) -> str:
        return self.isa.get(5).strip()

    @property
    def sender_id(self) -> str:
        return self.isa.get(6).strip()

    @property
    def receiver_qualifier(self) -> str:
        return self.isa.get(7).strip()

    @property
    def receiver_id(self) -> str:
        return self.isa.get(8).strip()

    @property
    def date_text(self) -> str:
        """ISA09 as sent (YYMMDD), for TA102."""
        return self.isa.get(9).strip()

    @property
    def time(self) -> str:
        """ISA10 as sent (HHMM), for TA103."""
        return self.isa.get(10).strip()

    @property
    def control_number(self) -> str:
        return self.isa.get(13).strip()

    @property
    def acknowledgment_requested(self) -> bool:
        """ISA14 = 1: the sender asks for a TA1."""
        return self.isa.get(14).strip() == "1"

    @property
    def usage(self) -> str:
        return self.isa.get(15).strip()


@dataclass(frozen=True, slots=True)
class Interchange:
    """One ISA…IEA interchange as read from the raw bytes.

    ``warnings`` lists what the reader tolerated (see docs/X12.md); ``errors`` holds the control-count
    mismatches collected when read with ``strict=False`` (empty after a strict read, which raises).
    ``encoding`` is how element text was decoded: ``ascii``, ``utf-8`` or ``latin-1``.
    """

    isa: Segment
    iea: Segment
    groups: tuple[FunctionalGroup, ...]
    delimiters: Delimiters
    encoding: str
    warnings: tuple[X12Warning, ...] = ()
    errors: tuple[X12Error, ...] = field(default=(), compare=False)

    @property
    def sender_qualifier(self) -> str:
        return self.isa.get(5).strip()

    @property
    def sender_id(self) -> str:
        """ISA06 without its fixed-width padding."""
        return self.isa.get(6).strip()

    @property
    def receiver_qualifier(self) -> str:
        return self.isa.get(7).strip()

    @property
    def receiver_id(self) -> str:
        """ISA08 without its fixed-width padding."""
        return self.isa.get(8).strip()

    @property
    def date(self) -> date:
        """ISA09 (YYMMDD)."""
        return interchange_date(self.isa)

    @property
    def time(self) -> str:
        return self.isa.get(10)

    @property
    def version(self) -> str:
        """ISA12, e.g. ``00401``."""
        return self.isa.get(12)

    @property
    def control_number(self) -> str:
        """ISA13, the number duplicates are recognised by (with the sender id)."""
        return self.isa.get(13).strip()

    @property
    def acknowledgment_requested(self) -> bool:
        """ISA14 = 1: the sender asks for a TA1."""
        return self.isa.get(14).strip() == "1"

    @property
    def usage(self) -> str:
        """ISA15: ``P`` production, ``T`` test."""
        return self.isa.get(15).strip()

    @property
    def header(self) -> IsaHeader:
        """The ISA alone, as the TA1 writer takes it."""
        return IsaHeader(self.isa, self.delimiters)

    @property
    def iea_matches(self) -> bool:
        """IEA02 = ISA13 (a mismatch is tolerated with a warning; a TA1 notes it as code 001)."""
        left, right = self.iea.get(2).strip(), self.control_number
        if left.isascii() and left.isdigit() and right.isdigit() and len(left) <= 9:
            return int(left) == int(right)
        return left == right

    def transaction_sets(self, code: str | None = None) -> Iterator[TransactionSet]:
        """Every transaction set of every group in order, optionally only those with ST01 = ``code``."""
        for group in self.groups:
            for tset in group.transaction_sets:
                if code is None or tset.code == code:
                    yield tset

    def group_of(self, tset: TransactionSet) -> FunctionalGroup:
        """The functional group a transaction set of this interchange belongs to."""
        for group in self.groups:
            if any(candidate is tset for candidate in group.transaction_sets):
                return group
        raise ValueError(f"transaction set {tset.control_number} is not part of this interchange")
