"""The one X12 error type, and the warnings the reader records instead of refusing a message.

Every refusal names where it happened (segment tag, element reference such as ``DTM02``, the value,
the byte offset in the raw message, the segment's position in its transaction set) because ops must
be able to fix a quarantined message from the reason alone, and because a 997 rejection needs the
same facts (AK3/AK4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scm.errors import DomainError

#: Machine-readable reasons. ``build_997`` turns them into AK3/AK4/AK5/AK9 codes.
REASONS = frozenset(
    {
        "empty",  # no bytes, or only whitespace
        "not_x12",  # does not start with ISA (EDIFACT, JSON, garbage)
        "bad_isa",  # the ISA header cannot be read
        "bad_character",  # a control byte where data must be
        "bad_segment",  # a segment without a valid tag, or envelope segments out of order
        "truncated",  # the interchange ends before its trailers (no SE/GE/IEA)
        "trailing_data",  # non-whitespace after IEA
        "segment_count",  # SE01 differs from the counted segments
        "set_control_mismatch",  # SE02 differs from ST02
        "set_count",  # GE01 differs from the counted transaction sets
        "group_control_mismatch",  # GE02 differs from GS06
        "group_count",  # IEA01 differs from the counted functional groups
        "missing",  # a required element is empty
        "invalid_date",
        "invalid_time",
        "not_a_number",
        "too_long",  # more digits or characters than we read (or than the element may have)
        "invalid_value",  # a value that breaks a structural rule (bad HL parent, orphan id, ...)
        "wrong_set",  # a mapper was given another transaction set type
        "unwritable",  # a writer was given a value X12 cannot carry
    }
)


class X12Error(DomainError):
    """An X12 message (or a value to be written as X12) cannot be read as it stands.

    ``str(error)`` is the human reason, e.g. ``SE01 '12' does not match the 14 segments counted in set
    0001``. The facts are attributes and travel in ``fields`` to the API error body:
    ``segment`` (tag), ``element`` (e.g. ``"SE01"``), ``value``, ``position`` (byte offset in the raw
    message), ``ordinal`` (segment position in its transaction set, ST = 1), ``set_control`` (ST02),
    ``group_control`` (GS06) and ``reason`` (one of :data:`REASONS`). ``interchange_note`` is the TA105
    code for an envelope fault that no element names (a bad separator or terminator); otherwise the TA1
    writer derives it from the element.
    """

    code = "x12_invalid"
    status = 422

    def __init__(
        self,
        message: str,
        *,
        segment: str | None = None,
        element: str | None = None,
        value: str | None = None,
        position: int | None = None,
        ordinal: int | None = None,
        set_control: str | None = None,
        group_control: str | None = None,
        reason: str = "invalid_value",
        interchange_note: str | None = None,
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown X12Error reason {reason!r}")
        self.segment = segment
        self.element = element
        self.value = value
        self.position = position
        self.ordinal = ordinal
        self.set_control = set_control
        self.group_control = group_control
        self.reason = reason
        self.interchange_note = interchange_note
        super().__init__(message, **self._facts())

    def _facts(self) -> dict[str, Any]:
        facts = {
            "segment": self.segment,
            "element": self.element,
            "value": self.value,
            "position": self.position,
            "ordinal": self.ordinal,
            "set_control": self.set_control,
            "group_control": self.group_control,
            "reason": self.reason,
        }
        return {key: value for key, value in facts.items() if value is not None}

    @property
    def element_index(self) -> int | None:
        """The element's 1-based position in its segment (``DTM02`` → 2), for AK4/TED."""
        if not self.element or not self.segment or not self.element.startswith(self.segment):
            return None
        digits = self.element[len(self.segment) :].split("-", 1)[0]
        return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 3 else None

    def in_set(self, *, group_control: str, set_control: str | None = None) -> X12Error:
        """Name the group (and set) the error belongs to (mappers see segments, not envelopes)."""
        if self.set_control is None:
            self.set_control = set_control
        if self.group_control is None:
            self.group_control = group_control
        self.fields = self._facts()
        return self


@dataclass(frozen=True, slots=True)
class X12Warning:
    """Something the reader tolerated on purpose (see docs/X12.md), kept so ops can see it."""

    message: str
    segment: str | None = None
    position: int | None = None

    def __str__(self) -> str:
        return self.message
