"""The one EDIFACT error type, and the warnings the reader records instead of refusing a message.

Every refusal names where it happened: the segment tag, the element by position (``QTY01-2`` is the
second component of the first element after the tag, as in X12 naming), the value, the byte offset in
the raw message, the segment's position in its message (UNH = 1, as UNT01 counts and CONTRL UCS01
reports) and the message reference (UNH01). A CONTRL rejection needs the same facts (UCM/UCS/UCD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scm.errors import DomainError

#: Machine-readable reasons, each with the CONTRL syntax error code (0085) it is reported as.
CONTRL_CODES = {
    "empty": "13",  # no bytes, or only whitespace
    "not_edifact": "12",  # does not start with UNA or UNB
    "bad_una": "20",  # a service string advice that cannot be used (character invalid as service character)
    "unsupported_syntax": "2",  # syntax identifier or version we cannot read
    "bad_character": "21",  # a control byte where data must be
    "bad_segment": "15",  # no valid tag, or a segment where it may not be
    "outside_message": "33",  # a segment outside UNH…UNT (invalid occurrence outside message or group)
    "groups_and_messages": "30",  # functional groups and bare messages mixed in one interchange
    "empty_interchange": "32",  # an interchange (or group) without a message: lower level empty
    "truncated": "13",  # the data ends before a trailer (UNT, UNE, UNZ): it is missing
    "trailing_data": "33",  # data after UNZ
    "segment_count": "29",  # UNT01 differs from the counted segments
    "message_count": "29",  # UNZ01/UNE01 differs from the counted messages or groups
    "reference_mismatch": "28",  # UNT02/UNE02/UNZ02 differs from UNH01/UNG05/UNB05
    "missing": "13",
    "invalid_date": "12",
    "invalid_time": "12",
    "not_a_number": "37",  # invalid type of character(s)
    "decimal_mark": "19",  # invalid decimal notation
    "too_long": "39",  # data element too long
    "invalid_value": "12",
    "duplicate": "26",  # an interchange already received (duplicate detected)
    "wrong_message": "12",  # a mapper was given another message type
    "unwritable": "12",  # a writer was given a value it cannot carry
}
REASONS = frozenset(CONTRL_CODES)
#: The service segments whose errors the CONTRL reports at interchange level (UCI06).
INTERCHANGE_SEGMENTS = frozenset({"UNA", "UNB", "UNZ"})


class EdifactError(DomainError):
    """An EDIFACT interchange (or a value to be written as EDIFACT) cannot be read as it stands.

    ``str(error)`` is the human reason, e.g. ``UNT01 '9' does not match the 7 segments counted in message
    7``. Facts are attributes and travel in ``fields``: ``segment``, ``element`` (``QTY01-2``),
    ``index`` and ``component`` (1-based positions after the tag), ``value``, ``position`` (byte offset),
    ``ordinal`` (segment position in its message, UNH = 1), ``message_ref`` (UNH01), ``group_ref``
    (UNG05) and ``reason`` (a key of :data:`CONTRL_CODES`).
    """

    code = "edifact_invalid"
    status = 422

    def __init__(
        self,
        message: str,
        *,
        segment: str | None = None,
        index: int | None = None,
        component: int | None = None,
        value: str | None = None,
        position: int | None = None,
        ordinal: int | None = None,
        message_ref: str | None = None,
        group_ref: str | None = None,
        reason: str = "invalid_value",
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown EdifactError reason {reason!r}")
        self.segment = segment
        self.index = index
        self.component = component
        self.value = value
        self.position = position
        self.ordinal = ordinal
        self.message_ref = message_ref
        self.group_ref = group_ref
        self.reason = reason
        super().__init__(message, **self._facts())

    @property
    def element(self) -> str | None:
        """The element reference, e.g. ``BGM02`` or ``DTM01-2`` (None when the error names no element)."""
        return element_ref(self.segment, self.index, self.component) if self.segment and self.index else None

    @property
    def syntax_code(self) -> str:
        """The CONTRL syntax error code (0085) this error is reported as."""
        return CONTRL_CODES[self.reason]

    def _facts(self) -> dict[str, Any]:
        facts = {
            "segment": self.segment,
            "element": self.element,
            "value": self.value,
            "position": self.position,
            "ordinal": self.ordinal,
            "message_ref": self.message_ref,
            "group_ref": self.group_ref,
            "reason": self.reason,
        }
        return {key: value for key, value in facts.items() if value is not None}

    def in_message(self, *, message_ref: str, group_ref: str | None = None) -> EdifactError:
        """Name the message (and group) the error belongs to (mappers see segments, not envelopes)."""
        if self.message_ref is None:
            self.message_ref = message_ref
        if self.group_ref is None:
            self.group_ref = group_ref
        self.fields = self._facts()
        return self


def element_ref(tag: str, index: int, component: int | None = None) -> str:
    """``BGM02`` for a simple element, ``DTM01-2`` for a component (positions count from 1 after the tag)."""
    return f"{tag}{index:02d}" + (f"-{component}" if component else "")


@dataclass(frozen=True, slots=True)
class EdifactWarning:
    """Something the reader tolerated on purpose (see docs/EDIFACT.md), kept so ops can see it."""

    message: str
    segment: str | None = None
    position: int | None = None

    def __str__(self) -> str:
        return self.message
