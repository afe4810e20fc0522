"""Bytes in, an :class:`Interchange` tree out, or one :class:`X12Error` that says exactly where and why.

The reader takes its delimiters from the ISA header (never assumes ``*``/``~``), tolerates the layout
quirks real suppliers send (see docs/X12.md, "Reader tolerance"), and checks every envelope count and
control number. It knows nothing about what a transaction set means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from suppliers.adapters.x12.errors import X12Error, X12Warning
from suppliers.adapters.x12.isa import read_isa_segment, start_of_data
from suppliers.adapters.x12.model import Delimiters, FunctionalGroup, Interchange, Segment, TransactionSet
from suppliers.adapters.x12.values import control_number, envelope_id, group_date

_WHITESPACE = " \t\r\n"
_LINE_BREAKS = "\r\n"
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}")
_CONTROL_BYTES = {*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F}
_ENVELOPE_TAGS = frozenset({"ISA", "GS", "ST", "SE", "GE", "IEA"})
_EDIFACT_HEADERS = (b"UNA", b"UNB")
_DIGITS = re.compile(r"[0-9]+")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _same_control(left: str, right: str) -> bool:
    """Control numbers are numeric in GS/GE and ISA/IEA: ``000000001`` equals ``1``."""
    left, right = left.strip(), right.strip()
    if _DIGITS.fullmatch(left) and _DIGITS.fullmatch(right):
        return left.lstrip("0") == right.lstrip("0")
    return left == right


def _count_matches(declared: str, counted: int) -> bool:
    """SE01/GE01/IEA01 equal the count (compared without turning thousands of digits into an int)."""
    return bool(_DIGITS.fullmatch(declared)) and len(declared) <= 10 and int(declared) == counted


def _preview(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _encoding(data: bytes, warnings: list[X12Warning]) -> str:
    """ASCII if it is; else UTF-8 if the bytes are valid UTF-8; else latin-1, which cannot fail."""
    if data.isascii():
        return "ascii"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warnings.append(
            X12Warning(
                f"the message is not valid UTF-8 (byte 0x{data[exc.start]:02X} at offset {exc.start}); "
                "element text was decoded as latin-1",
                position=exc.start,
            )
        )
        return "latin-1"
    return "utf-8"


def _check_control_bytes(data: bytes, start: int, delimiters: Delimiters) -> None:
    """Control bytes are not X12 data (unless the ISA chose one as a delimiter)."""
    allowed = {ord(d) for d in (delimiters.element, delimiters.component, delimiters.segment) if ord(d) < 256}
    if delimiters.repetition:
        allowed.add(ord(delimiters.repetition))
    forbidden = bytes(sorted(_CONTROL_BYTES - allowed))
    match = re.compile(b"[" + re.escape(forbidden) + b"]").search(data, start)
    if match:
        raise X12Error(
            f"byte 0x{match.group()[0]:02X} at offset {match.start()} is a control character, not X12 data",
            position=match.start(),
            reason="bad_character",
        )


def _check_gs(gs: Segment) -> None:
    """GS01 (echoed in AK1), GS02/GS03 (echoed in our replies' GS), GS04/GS05 (echoed in 824s), GS06."""
    if not re.fullmatch(r"[A-Z]{2}", gs.get(1)):
        raise gs.error(f"GS01 {gs.get(1)!r} is not a functional identifier code (2 capitals)", 1)
    envelope_id(gs, 2, what="an application sender's code", limit=15, required=False)
    envelope_id(gs, 3, what="an application receiver's code", limit=15, required=False)
    group_date(gs)
    moment = gs.get(5)
    if not (re.fullmatch(r"[0-9]{4,8}", moment) and int(moment[:2]) < 24 and int(moment[2:4]) < 60):
        raise gs.error(f"GS05 {moment!r} is not an HHMM time", 5, reason="invalid_time")
    control_number(gs, 6, what="a group control number")


@dataclass
class _Builder:
    """Assembles envelopes while segments stream by, checking each trailer as it closes."""

    isa: Segment
    delimiters: Delimiters
    encoding: str
    strict: bool
    warnings: list[X12Warning]
    errors: list[X12Error] = field(default_factory=list)
    groups: list[FunctionalGroup] = field(default_factory=list)
    gs: Segment | None = None
    sets: list[TransactionSet] = field(default_factory=list)
    set_segments: list[Segment] = field(default_factory=list)
    iea: Segment | None = None

    def fail(self, error: X12Error) -> None:
        """A control-count problem: raised when strict, collected otherwise."""
        if self.strict:
            raise error
        self.errors.append(error)

    def segment(self, tag: str, elements: tuple[str, ...], offset: int, ordinal: int = 0) -> Segment:
        return Segment(tag, elements, ordinal, offset, self.delimiters, self.encoding)

    def add(self, tag: str, elements: tuple[str, ...], offset: int) -> None:
        if self.iea is not None:
            what = "a second interchange" if tag == "ISA" else f"segment {tag}"
            raise X12Error(
                f"{what} at byte {offset} follows IEA; a message carries one interchange",
                segment=tag,
                position=offset,
                reason="trailing_data",
            )
        if self.set_segments:
            self._in_set(tag, elements, offset)
        elif self.gs is not None:
            self._in_group(tag, elements, offset)
        else:
            self._in_interchange(tag, elements, offset)

    def _in_interchange(self, tag: str, elements: tuple[str, ...], offset: int) -> None:
        seg = self.segment(tag, elements, offset)
        if tag == "GS":
            self._open_group(seg)
        elif tag == "IEA":
            self._close_interchange(seg)
        elif tag == "TA1":
            self.warnings.append(X12Warning(f"TA1 at byte {offset} was ignored", segment="TA1", position=offset))
        else:
            raise X12Error(
                f"segment {tag} at byte {offset} is outside a functional group: expected GS or IEA",
                segment=tag,
                position=offset,
                reason="bad_segment",
            )

    def _in_group(self, tag: str, elements: tuple[str, ...], offset: int) -> None:
        assert self.gs is not None
        if tag == "ST":
            self._open_set(self.segment(tag, elements, offset, ordinal=1))
        elif tag == "GE":
            self._close_group(self.segment(tag, elements, offset))
        elif tag in ("GS", "IEA", "ISA"):
            raise X12Error(
                f"group {self.gs.get(6)} (GS at byte {self.gs.offset}) has no GE: found {tag} at byte {offset}",
                segment=tag,
                position=offset,
                group_control=self.gs.get(6),
                reason="truncated",
            )
        else:
            raise X12Error(
                f"segment {tag} at byte {offset} is outside a transaction set: expected ST or GE in group "
                f"{self.gs.get(6)}",
                segment=tag,
                position=offset,
                group_control=self.gs.get(6),
                reason="bad_segment",
            )

    def _in_set(self, tag: str, elements: tuple[str, ...], offset: int) -> None:
        assert self.gs is not None
        seg = self.segment(tag, elements, offset, ordinal=len(self.set_segments) + 1)
        if tag == "SE":
            self.set_segments.append(seg)
            self._close_set()
        elif tag in _ENVELOPE_TAGS:
            st = self.set_segments[0]
            raise X12Error(
                f"set {st.get(2)} (ST at byte {st.offset}) has no SE: found {tag} at byte {offset}",
                segment=tag,
                position=offset,
                set_control=st.get(2),
                group_control=self.gs.get(6),
                reason="truncated",
            )
        else:
            self.set_segments.append(seg)

    def _open_group(self, gs: Segment) -> None:
        try:
            _check_gs(gs)
        except X12Error as error:
            raise error.in_set(group_control=gs.get(6)) from None
        self.gs, self.sets = gs, []

    def _open_set(self, st: Segment) -> None:
        assert self.gs is not None
        if not re.fullmatch(r"[0-9]{3}", st.get(1)):
            raise st.error(f"ST01 {st.get(1)!r} is not a transaction set identifier (3 digits)", 1).in_set(
                group_control=self.gs.get(6)
            )
        try:
            envelope_id(st, 2, what="a transaction set control number", limit=9)
        except X12Error as error:
            raise error.in_set(group_control=self.gs.get(6)) from None
        if any(tset.control_number == st.get(2) for tset in self.sets):
            self.warnings.append(
                X12Warning(
                    f"ST02 {st.get(2)!r} at byte {st.offset} repeats a control number in group {self.gs.get(6)}",
                    segment="ST",
                    position=st.offset,
                )
            )
        self.set_segments = [st]

    def _close_set(self) -> None:
        assert self.gs is not None
        st, se = self.set_segments[0], self.set_segments[-1]
        control, group_control, counted = st.get(2), self.gs.get(6), len(self.set_segments)
        declared = se.get(1)
        if not _count_matches(declared, counted):
            error = se.error(
                f"SE01 {declared!r} does not match the {_plural(counted, 'segment')} counted in set {control}",
                1,
                reason="segment_count",
            )
            self.fail(error.in_set(set_control=control, group_control=group_control))
        if se.get(2) != control:
            error = se.error(f"SE02 {se.get(2)!r} does not match ST02 {control!r}", 2, reason="set_control_mismatch")
            self.fail(error.in_set(set_control=control, group_control=group_control))
        self.sets.append(TransactionSet(st.get(1), control, group_control, tuple(self.set_segments)))
        self.set_segments = []

    def _close_group(self, ge: Segment) -> None:
        assert self.gs is not None
        control, counted = self.gs.get(6), len(self.sets)
        declared = ge.get(1)
        if not _count_matches(declared, counted):
            error = ge.error(
                f"GE01 {declared!r} does not match the {_plural(counted, 'transaction set')} counted in group "
                f"{control}",
                1,
                reason="set_count",
            )
            self.fail(error.in_set(group_control=control))
        if not _same_control(ge.get(2), control):
            error = ge.error(f"GE02 {ge.get(2)!r} does not match GS06 {control!r}", 2, reason="group_control_mismatch")
            self.fail(error.in_set(group_control=control))
        self.groups.append(FunctionalGroup(self.gs, ge, tuple(self.sets)))
        self.gs, self.sets = None, []

    def _close_interchange(self, iea: Segment) -> None:
        control, counted = self.isa.get(13), len(self.groups)
        declared = iea.get(1)
        if not _count_matches(declared, counted):
            self.fail(
                iea.error(
                    f"IEA01 {declared!r} does not match the {_plural(counted, 'functional group')} counted in "
                    f"interchange {control}",
                    1,
                    reason="group_count",
                )
            )
        if not _same_control(iea.get(2), control):
            self.warnings.append(
                X12Warning(
                    f"IEA02 {iea.get(2)!r} does not match ISA13 {control!r}; ISA13 identifies the interchange",
                    segment="IEA",
                    position=iea.offset,
                )
            )
        self.iea = iea

    def finish(self, last_offset: int) -> None:
        """The data ran out: every open envelope is a truncation, named by what is missing."""
        if self.set_segments:
            st = self.set_segments[0]
            raise X12Error(
                f"the interchange is truncated: set {st.get(2)} (ST at byte {st.offset}) has no SE and no IEA follows",
                segment="ST",
                position=st.offset,
                set_control=st.get(2),
                group_control=self.gs.get(6) if self.gs else None,
                reason="truncated",
            )
        if self.gs is not None:
            raise X12Error(
                f"the interchange is truncated: group {self.gs.get(6)} (GS at byte {self.gs.offset}) has no GE "
                "and no IEA follows",
                segment="GS",
                position=self.gs.offset,
                group_control=self.gs.get(6),
                reason="truncated",
            )
        if self.iea is None:
            raise X12Error(
                f"the interchange is truncated: no IEA after the last segment (byte {last_offset})",
                position=last_offset,
                reason="truncated",
            )


def _start(data: bytes) -> int:
    """Where the interchange starts (after a BOM and blanks); empty and non-X12 input is refused here."""
    start = start_of_data(data)
    if start >= len(data):
        raise X12Error("the message is empty: there is no X12 data to read", position=0, reason="empty")
    head = data[start : start + 3]
    if head in _EDIFACT_HEADERS:
        raise X12Error(
            f"not an X12 interchange: it starts with {head.decode()}, an EDIFACT header",
            segment=head.decode(),
            position=start,
            reason="not_x12",
        )
    if head != b"ISA":
        found = _preview(data[start : start + 20].decode("latin-1"))
        raise X12Error(
            f"not an X12 interchange: it must start with ISA, found {found!r}", position=start, reason="not_x12"
        )
    return start


def _pieces(text: str, position: int, delimiters: Delimiters, encoding: str, warnings: list[X12Warning]):
    """Each segment's text, byte offset and whether a terminator ended it (the last piece may lack one)."""
    terminator, length = delimiters.segment, len(text)
    strip_breaks = terminator not in _LINE_BREAKS
    while position < length:
        end = text.find(terminator, position)
        chunk = text[position:] if end == -1 else text[position:end]
        body = chunk.lstrip(_WHITESPACE)
        offset = position + len(chunk) - len(body)
        position = length if end == -1 else end + 1
        if end == -1:
            body = body.rstrip(_WHITESPACE)  # the last, unterminated piece: a final line break is not data
        if not body:
            continue
        if strip_breaks and ("\n" in body or "\r" in body):
            body = body.replace("\r", "").replace("\n", "")
            warnings.append(
                X12Warning(f"line breaks inside the segment at byte {offset} were removed", position=offset)
            )
        if encoding == "utf-8" and not body.isascii():
            body = body.encode("latin-1").decode("utf-8")
        yield body, offset, end != -1


def _unterminated(body: str, offset: int, builder: _Builder, seen_terminator: bool) -> None:
    """The last piece has no terminator: tolerated for IEA (a warning), else the data ends too early."""
    tag = body.split(builder.delimiters.element, 1)[0]
    if builder.iea is not None or tag == "IEA":
        if tag == "IEA":
            builder.warnings.append(X12Warning("IEA has no segment terminator", segment="IEA", position=offset))
        return
    if not seen_terminator:
        raise X12Error(
            f"no segment terminator {builder.delimiters.segment!r} (declared after ISA16) follows the ISA header",
            segment="ISA",
            position=builder.isa.offset,
            reason="bad_isa",
            interchange_note="004",
        )
    raise X12Error(
        f"the interchange is truncated: it ends inside segment {_preview(body)!r} at byte {offset}, "
        "with no terminator and no IEA",
        position=offset,
        reason="truncated",
    )


def _tag(body: str, tag: str, offset: int, after_iea: bool) -> None:
    if _TAG.fullmatch(tag):
        return
    if after_iea:
        raise X12Error(
            f"unexpected data after IEA at byte {offset}: {_preview(body)!r}", position=offset, reason="trailing_data"
        )
    raise X12Error(
        f"{_preview(body)!r} at byte {offset} does not start with a segment tag",
        value=_preview(body),
        position=offset,
        reason="bad_segment",
    )


def read_interchange(raw: bytes, *, strict: bool = True) -> Interchange:
    """Read one X12 interchange from its raw bytes.

    Raises :class:`X12Error` for anything that is not a readable interchange: empty input, EDIFACT or
    other non-X12 data, a broken ISA, control characters, stray or truncated envelopes, and (when
    ``strict``) any SE/GE/IEA count or control-number mismatch. With ``strict=False`` those count and
    control mismatches are collected in ``Interchange.errors`` instead, so that a 997 can reject the
    affected sets precisely; structural damage still raises.

    An IEA02 that differs from ISA13 is only a warning: real senders get it wrong (two of our samples).
    """
    data = bytes(raw)
    start = _start(data)
    warnings: list[X12Warning] = []
    encoding = _encoding(data, warnings)
    text = data.decode("latin-1")  # one char per byte: offsets in `text` are byte offsets
    isa = read_isa_segment(text, start, encoding, warnings)
    delimiters = isa.delimiters
    if encoding == "utf-8" and not all(
        d.isascii() for d in (delimiters.element, delimiters.component, delimiters.segment)
    ):
        encoding = "latin-1"
    _check_control_bytes(data, start, delimiters)
    builder = _Builder(isa=isa.segment, delimiters=delimiters, encoding=encoding, strict=strict, warnings=warnings)
    last_offset, seen_terminator = isa.segment.offset, False
    for body, offset, terminated in _pieces(text, isa.end, delimiters, encoding, warnings):
        if not terminated:
            _unterminated(body, offset, builder, seen_terminator)
        seen_terminator = seen_terminator or terminated
        parts = body.split(delimiters.element)
        _tag(body, parts[0], offset, builder.iea is not None and parts[0] != "ISA")
        builder.add(parts[0], tuple(parts[1:]), offset)
        last_offset = offset
    builder.finish(last_offset)
    assert builder.iea is not None
    return Interchange(
        isa=isa.segment,
        iea=builder.iea,
        groups=tuple(builder.groups),
        delimiters=delimiters,
        encoding=encoding,
        warnings=tuple(warnings),
        errors=tuple(builder.errors),
    )
