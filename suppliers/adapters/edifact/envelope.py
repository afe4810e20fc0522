"""Envelope rules: the UNB header, and UNG/UNH/UNT/UNE/UNZ assembled while segments stream by.

Each trailer is checked as it closes: UNT01 against the segments counted (UNH and UNT included), UNT02
against UNH01, UNE01/UNE02 against the group, UNZ01 against the messages (or groups) and UNZ02 against
UNB05. A strict read raises the first mismatch; a lenient one collects them for the CONTRL. Structure
(a segment outside a message, a missing trailer, data after UNZ) always raises.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime

from suppliers.adapters.edifact.errors import EdifactError, EdifactWarning
from suppliers.adapters.edifact.model import Group, Header, Interchange, Message, Segment

#: UNB01-1 syntax identifier → the Python codec element text is decoded with.
CHARSETS = {
    "UNOA": "ascii",
    "UNOB": "ascii",
    "UNOC": "latin-1",
    "UNOD": "iso8859-2",
    "UNOE": "iso8859-5",
    "UNOF": "iso8859-7",
    "UNOG": "iso8859-3",
    "UNOH": "iso8859-4",
    "UNOI": "iso8859-6",
    "UNOJ": "iso8859-8",
    "UNOK": "iso8859-9",
    "UNOW": "utf-8",
    "UNOY": "utf-8",
}
SERVICE_TAGS = frozenset({"UNA", "UNB", "UNG", "UNH", "UNT", "UNE", "UNZ"})
#: UNB09: empty or 0 (none), 1 (acknowledgement requested), 2 (indication of receipt, syntax 4).
ACK_REQUEST_CODES = frozenset({"", "0", "1", "2"})
_MESSAGE_TYPE = re.compile(r"[A-Z]{6}")
_DIGITS = re.compile(r"[0-9]+")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _count_matches(declared: str, counted: int) -> bool:
    """UNT01/UNE01/UNZ01 equal the count (compared without turning thousands of digits into an int)."""
    return bool(_DIGITS.fullmatch(declared)) and len(declared) <= 10 and int(declared) == counted


def _same_reference(left: str, right: str) -> bool:
    """Control references are alphanumeric; numeric ones also match with other leading zeros."""
    left, right = left.strip(), right.strip()
    if left == right:
        return True
    numeric = _DIGITS.fullmatch(left) and _DIGITS.fullmatch(right)
    return bool(numeric) and left.lstrip("0") == right.lstrip("0")


def identifier(
    segment: Segment, index: int, component: int | None = None, *, limit: int, what: str, required: bool = True
) -> str:
    """An envelope identifier we copy into replies: present when required, at most ``limit`` characters
    and printable ASCII (so that the CONTRL can echo it in any repertoire). ``component`` is None for a
    stand-alone element."""
    value = segment.get(index, component or 1)
    ref = segment.ref(index, component)
    if value.strip(" ") == "":
        if required:
            raise segment.error(f"{ref} is missing; expected {what}", index, component, reason="missing")
        return value
    if len(value) > limit:
        raise segment.error(
            f"{ref} is {len(value)} characters long; {what} has at most {limit}", index, component, reason="too_long"
        )
    if not (value.isascii() and value.isprintable()):
        bad = next(char for char in value if not (char.isascii() and char.isprintable()))
        raise segment.error(
            f"{ref} {value!r} contains {bad!r}, which is not printable ASCII; {what} must be",
            index,
            component,
            reason="bad_character",
        )
    return value


def check_unb(unb: Segment) -> int:
    """Check the UNB elements we rely on and return the syntax version (1 to 4)."""
    syntax = unb.get(1, 1)
    if syntax == "":
        raise unb.error("UNB01-1 is missing; expected a syntax identifier such as UNOC", 1, 1, reason="missing")
    if syntax not in CHARSETS:
        raise unb.error(
            f"UNB01-1 {syntax!r} is not a syntax identifier we read ({', '.join(sorted(CHARSETS))})",
            1,
            1,
            reason="unsupported_syntax",
        )
    version = unb.get(1, 2)
    if version == "":
        raise unb.error("UNB01-2 is missing; expected the syntax version number (1 to 4)", 1, 2, reason="missing")
    if version not in ("1", "2", "3", "4"):
        raise unb.error(f"UNB01-2 {version!r} is not a syntax version (1 to 4)", 1, 2, reason="unsupported_syntax")
    identifier(unb, 2, 1, limit=35, what="the interchange sender id")
    identifier(unb, 2, 2, limit=4, what="a sender id qualifier", required=False)
    identifier(unb, 2, 3, limit=14, what="a reverse routing address", required=False)
    identifier(unb, 3, 1, limit=35, what="the interchange recipient id")
    identifier(unb, 3, 2, limit=4, what="a recipient id qualifier", required=False)
    identifier(unb, 3, 3, limit=14, what="a routing address", required=False)
    _check_stamp(unb)
    identifier(unb, 5, None, limit=14, what="the interchange control reference")
    if unb.get(9) not in ACK_REQUEST_CODES:
        raise unb.error(f"UNB09 {unb.get(9)!r} is not an acknowledgement request (1, or empty)", 9)
    return int(version)


def _check_stamp(unb: Segment) -> None:
    """UNB04: date YYMMDD (CCYYMMDD from syntax 4 on; either is accepted) and time HHMM."""
    day, moment = unb.get(4, 1), unb.get(4, 2)
    formats = {6: "%y%m%d", 8: "%Y%m%d"}
    if day == "":
        raise unb.error("UNB04-1 is missing; expected the date of preparation", 4, 1, reason="missing")
    if not (_DIGITS.fullmatch(day) and len(day) in formats and _parses(day, formats[len(day)])):
        raise unb.error(f"UNB04-1 {day!r} is not a YYMMDD or CCYYMMDD date", 4, 1, reason="invalid_date")
    if moment == "":
        raise unb.error("UNB04-2 is missing; expected the time of preparation", 4, 2, reason="missing")
    if not (_DIGITS.fullmatch(moment) and len(moment) == 4 and _parses(moment, "%H%M")):
        raise unb.error(f"UNB04-2 {moment!r} is not an HHMM time", 4, 2, reason="invalid_time")


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


def check_unh(unh: Segment) -> None:
    """UNH01 (reference) and UNH02 (type, version, release, agency) are mandatory."""
    reference = identifier(unh, 1, None, limit=14, what="the message reference number")
    try:
        kind = identifier(unh, 2, 1, limit=6, what="the message type")
        if not _MESSAGE_TYPE.fullmatch(kind):
            raise unh.error(f"UNH02-1 {kind!r} is not a message type (six capitals)", 2, 1)
        identifier(unh, 2, 2, limit=3, what="the message version number")
        identifier(unh, 2, 3, limit=3, what="the message release number")
        identifier(unh, 2, 4, limit=3, what="the controlling agency")
        identifier(unh, 2, 5, limit=6, what="an association assigned code", required=False)
    except EdifactError as error:
        raise error.in_message(message_ref=reference) from None


@dataclass
class Builder:
    """Assembles groups and messages while segments stream by, checking each trailer as it closes."""

    header: Header
    strict: bool
    warnings: list[EdifactWarning]
    errors: list[EdifactError] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    bare_messages: int = 0
    ung: Segment | None = None
    group_messages: list[Message] = field(default_factory=list)
    current: list[Segment] = field(default_factory=list)
    unz: Segment | None = None

    @property
    def next_ordinal(self) -> int:
        """The position the next segment takes in its message (1 for a UNH)."""
        return len(self.current) + 1

    def fail(self, error: EdifactError) -> None:
        """A count or reference mismatch: raised when strict, collected otherwise."""
        if self.strict:
            raise error
        self.errors.append(error)

    def add(self, segment: Segment) -> None:
        if self.current:
            self._in_message(segment)
            return
        tag = segment.tag
        if tag == "UNH":
            self._open_message(segment)
            return
        outside = dataclasses.replace(segment, ordinal=0)
        if tag == "UNG":
            self._open_group(outside)
        elif tag == "UNE":
            self._close_group(outside)
        elif tag == "UNZ":
            self._close_interchange(outside)
        else:
            expected = "UNH, UNE" if self.ung is not None else "UNH, UNG or UNZ"
            raise EdifactError(
                f"segment {tag} at byte {segment.offset} is outside a message: expected {expected}",
                segment=tag,
                position=segment.offset,
                group_ref=self.ung.get(5) if self.ung else None,
                reason="outside_message",
            )

    def _in_message(self, segment: Segment) -> None:
        unh = self.current[0]
        if segment.tag in SERVICE_TAGS and segment.tag != "UNT":
            raise EdifactError(
                f"message {unh.get(1)} (UNH at byte {unh.offset}) has no UNT: found {segment.tag} at byte "
                f"{segment.offset}",
                segment="UNT",
                position=segment.offset,
                ordinal=len(self.current),
                message_ref=unh.get(1),
                group_ref=self.ung.get(5) if self.ung else None,
                reason="truncated",
            )
        self.current.append(segment)
        if segment.tag == "UNT":
            self._close_message()

    def _open_message(self, unh: Segment) -> None:
        check_unh(unh)
        if self.ung is None and self.groups:
            raise unh.error(
                f"message {unh.get(1)} at byte {unh.offset} is outside a group, but this interchange uses groups",
                reason="groups_and_messages",
            ).in_message(message_ref=unh.get(1))
        if any(message.reference == unh.get(1) for message in self.messages):
            self.warnings.append(
                EdifactWarning(f"UNH01 {unh.get(1)!r} at byte {unh.offset} repeats a message reference", "UNH")
            )
        self.current = [unh]

    def _close_message(self) -> None:
        unh, unt = self.current[0], self.current[-1]
        reference, counted = unh.get(1), len(self.current)
        group_ref = self.ung.get(5) if self.ung else None
        if not _count_matches(unt.get(1), counted):
            self.fail(
                unt.error(
                    f"UNT01 {unt.get(1)!r} does not match the {_plural(counted, 'segment')} counted in message "
                    f"{reference}",
                    1,
                    reason="segment_count",
                ).in_message(message_ref=reference, group_ref=group_ref)
            )
        if unt.get(2) != reference:
            self.fail(
                unt.error(
                    f"UNT02 {unt.get(2)!r} does not match UNH01 {reference!r}", 2, reason="reference_mismatch"
                ).in_message(message_ref=reference, group_ref=group_ref)
            )
        message = Message(tuple(self.current), group_ref=group_ref)
        self.messages.append(message)
        if self.ung is not None:
            self.group_messages.append(message)
        else:
            self.bare_messages += 1
        self.current = []

    def _open_group(self, ung: Segment) -> None:
        if self.ung is not None:
            raise EdifactError(
                f"group {self.ung.get(5)} (UNG at byte {self.ung.offset}) has no UNE: found UNG at byte {ung.offset}",
                segment="UNE",
                position=ung.offset,
                group_ref=self.ung.get(5),
                reason="truncated",
            )
        if self.bare_messages:
            raise ung.error(
                f"UNG at byte {ung.offset} opens a group after messages outside any group",
                reason="groups_and_messages",
            )
        identifier(ung, 1, None, limit=6, what="the message group identification")
        identifier(ung, 5, None, limit=14, what="the group reference number")
        self.ung, self.group_messages = ung, []

    def _close_group(self, une: Segment) -> None:
        if self.ung is None:
            raise EdifactError(
                f"UNE at byte {une.offset} closes no group (no UNG before it)",
                segment="UNE",
                position=une.offset,
                reason="outside_message",
            )
        reference, counted = self.ung.get(5), len(self.group_messages)
        if counted == 0:
            raise self.ung.error(f"group {reference} holds no message", reason="empty_interchange")
        if not _count_matches(une.get(1), counted):
            error = une.error(
                f"UNE01 {une.get(1)!r} does not match the {_plural(counted, 'message')} counted in group {reference}",
                1,
                reason="message_count",
            )
            error.group_ref = reference
            self.fail(error)
        if not _same_reference(une.get(2), reference):
            error = une.error(
                f"UNE02 {une.get(2)!r} does not match UNG05 {reference!r}", 2, reason="reference_mismatch"
            )
            error.group_ref = reference
            self.fail(error)
        self.groups.append(Group(self.ung, une, tuple(self.group_messages)))
        self.ung, self.group_messages = None, []

    def _close_interchange(self, unz: Segment) -> None:
        if self.ung is not None:
            raise EdifactError(
                f"group {self.ung.get(5)} (UNG at byte {self.ung.offset}) has no UNE: found UNZ at byte {unz.offset}",
                segment="UNE",
                position=unz.offset,
                group_ref=self.ung.get(5),
                reason="truncated",
            )
        if not self.messages:
            raise EdifactError(
                f"the interchange holds no message (UNZ at byte {unz.offset})",
                segment="UNZ",
                position=unz.offset,
                reason="empty_interchange",
            )
        what, counted = ("group", len(self.groups)) if self.groups else ("message", len(self.messages))
        if not _count_matches(unz.get(1), counted):
            self.fail(
                unz.error(
                    f"UNZ01 {unz.get(1)!r} does not match the {_plural(counted, what)} counted in interchange "
                    f"{self.header.control_reference}",
                    1,
                    reason="message_count",
                )
            )
        if not _same_reference(unz.get(2), self.header.control_reference):
            self.fail(
                unz.error(
                    f"UNZ02 {unz.get(2)!r} does not match UNB05 {self.header.control_reference!r}",
                    2,
                    reason="reference_mismatch",
                )
            )
        self.unz = unz

    def trailing(self, text: str, position: int) -> EdifactError:
        found = text[position : position + 20]
        if found.startswith(("UNA", "UNB")):
            message = f"a second interchange at byte {position} follows UNZ; a message carries one interchange"
        else:
            message = f"unexpected data after UNZ at byte {position}: {found!r}"
        return EdifactError(message, position=position, value=found, reason="trailing_data")

    def finish(self, length: int) -> Interchange:
        """The data ran out: every open envelope is a truncation, named by what is missing."""
        if self.current:
            unh = self.current[0]
            raise EdifactError(
                f"the interchange is truncated: message {unh.get(1)} (UNH at byte {unh.offset}) has no UNT and no "
                "UNZ follows",
                segment="UNT",
                position=length,
                ordinal=len(self.current),
                message_ref=unh.get(1),
                group_ref=self.ung.get(5) if self.ung else None,
                reason="truncated",
            )
        if self.ung is not None:
            raise EdifactError(
                f"the interchange is truncated: group {self.ung.get(5)} (UNG at byte {self.ung.offset}) has no UNE "
                "and no UNZ follows",
                segment="UNE",
                position=length,
                group_ref=self.ung.get(5),
                reason="truncated",
            )
        if self.unz is None:
            raise EdifactError(
                "the interchange is truncated: no UNZ after the last segment",
                segment="UNZ",
                position=length,
                reason="truncated",
            )
        return Interchange(
            header=self.header,
            unz=self.unz,
            messages=tuple(self.messages),
            groups=tuple(self.groups),
            warnings=tuple(self.warnings),
            errors=tuple(self.errors),
        )
