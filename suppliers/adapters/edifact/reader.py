"""Bytes in, an :class:`Interchange` tree out, or one :class:`EdifactError` that says exactly where and why.

The reader takes its service characters from the UNA (or the defaults of the syntax level), honours
the release character, splits components and (syntax 4) repetitions, decodes text by the repertoire
the UNB declares, and hands the segments to :mod:`envelope`, which checks UNB/UNG/UNH/UNT/UNE/UNZ.
Offsets are byte offsets into the raw message: structure is parsed on a one-char-per-byte view and
only element text is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from suppliers.adapters.edifact.envelope import CHARSETS, Builder, check_unb
from suppliers.adapters.edifact.errors import EdifactError, EdifactWarning
from suppliers.adapters.edifact.model import Element, Header, Interchange, Segment, ServiceChars

_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\r\n"
_LINE_BREAKS = "\r\n"
_TAG = re.compile(r"[A-Z][A-Z0-9]{2}")
_CONTROL = "".join(chr(code) for code in (*range(0x00, 0x20), 0x7F))
#: Syntax level A and C defaults (ISO 9735); level B uses information separators instead.
LEVEL_A = ServiceChars()
LEVEL_B = ServiceChars(component="\x1f", element="\x1d", decimal=".", release=None, repetition=None, segment="\x1c")


def _preview(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class _Raw:
    """A segment as tokenized: elements still in the one-char-per-byte view."""

    elements: list[Element]
    offset: int
    end: int
    preview: str = ""

    @property
    def tag(self) -> str:
        return self.elements[0].repeats[0][0] if self.elements else ""


class _Tokenizer:
    """Splits segments at the service characters, honouring the release character."""

    def __init__(self, text: str, chars: ServiceChars, warnings: list[EdifactWarning]) -> None:
        self.text, self.chars, self.warnings = text, chars, warnings
        specials = {*chars.delimiters, *_LINE_BREAKS, *_CONTROL}
        self.pattern = re.compile("[" + "".join(re.escape(char) for char in sorted(specials)) + "]")
        self.skip = "".join(char for char in _WHITESPACE if char not in chars.delimiters)

    def next_start(self, position: int) -> int:
        """Skip line breaks and blanks between segments (never inside one)."""
        text = self.text
        while position < len(text) and text[position] in self.skip:
            position += 1
        return position

    def segment(self, start: int) -> _Raw:
        text, chars = self.text, self.chars
        elements: list[Element] = []
        repeats: list[tuple[str, ...]] = []
        components: list[str] = []
        offsets: list[int] = []
        buffer: list[str] = []
        position, component_start, broken = start, start, False
        while True:
            found = self.pattern.search(text, position)
            if found is None:
                raise EdifactError(
                    f"the interchange is truncated: it ends inside segment {_preview(text[start:].strip())!r} at "
                    f"byte {start}, with no segment terminator {chars.segment!r}",
                    segment=text[start : start + 3] if _TAG.fullmatch(text[start : start + 3]) else None,
                    position=start,
                    reason="truncated",
                )
            char, at = found.group(), found.start()
            buffer.append(text[position:at])
            position = at + 1
            if char == chars.release:
                position = self._release(buffer, at)
                continue
            if char in _LINE_BREAKS and char not in chars.delimiters:
                broken = True  # a file wrapped at a fixed width: the break is not data
                continue
            if char not in chars.delimiters:
                raise EdifactError(
                    f"byte 0x{ord(char):02X} at offset {at} is a control character, not EDIFACT data",
                    position=at,
                    value=f"0x{ord(char):02X}",
                    reason="bad_character",
                )
            components.append("".join(buffer))
            buffer = []
            if not repeats:
                offsets.append(component_start)
            component_start = position
            if char == chars.component:
                continue
            repeats.append(tuple(components))
            components = []
            if char == chars.repetition:
                continue
            elements.append(Element(tuple(repeats), tuple(offsets)))
            repeats, offsets = [], []
            if char == chars.segment:
                if broken:
                    self.warnings.append(
                        EdifactWarning(f"line breaks inside the segment at byte {start} were removed", position=start)
                    )
                return _Raw(elements, start, position, _preview(text[start : position - 1]))

    def _release(self, buffer: list[str], at: int) -> int:
        """``?+`` is a literal ``+``; a release character that releases nothing is kept as data."""
        text = self.text
        if at + 1 >= len(text):
            raise EdifactError(
                f"the interchange ends with the release character {text[at]!r} at byte {at}; the character it "
                "releases is missing",
                position=at,
                reason="truncated",
            )
        following = text[at + 1]
        if following in self.chars.delimiters:
            buffer.append(following)
            return at + 2
        self.warnings.append(
            EdifactWarning(
                f"the release character at byte {at} precedes {following!r}, which is no service character; "
                "both were kept as data",
                position=at,
            )
        )
        buffer.append(text[at])
        return at + 1


def _start_of_data(data: bytes) -> int:
    start = len(_BOM) if data.startswith(_BOM) else 0
    while start < len(data) and data[start] in b" \t\r\n":
        start += 1
    return start


def _read_una(text: str, start: int) -> ServiceChars:
    """UNA1..UNA6: component, element, decimal mark, release, repetition (space: none), terminator."""
    given = text[start + 3 : start + 9]
    if len(given) < 6:
        raise EdifactError(
            f"the UNA service string advice is truncated: it needs 6 characters after UNA, found {len(given)}",
            segment="UNA",
            value=given,
            position=start,
            reason="bad_una",
        )
    component, element, decimal, release, repetition, terminator = given
    names = {1: "component separator", 2: "element separator", 4: "release character", 6: "segment terminator"}
    for index, char in ((1, component), (2, element), (4, release), (6, terminator)):
        if char.isalnum() or (char == " " and index != 4) or char in "\r\n":
            raise _una_error(f"UNA{index} {char!r} cannot be the {names[index]}", index, char, start)
    if decimal not in ".,":
        raise _una_error(f"UNA3 {decimal!r} is not a decimal mark: it must be '.' or ','", 3, decimal, start)
    if repetition.isalnum() or repetition in "\r\n":
        raise _una_error(f"UNA5 {repetition!r} cannot be the repetition separator", 5, repetition, start)
    used = [char for char in (component, element, terminator, release, repetition, decimal) if char != " "]
    if len(set(used)) != len(used):
        raise EdifactError(
            f"the UNA service characters must differ: {given!r}",
            segment="UNA",
            value=given,
            position=start + 3,
            reason="bad_una",
        )
    return ServiceChars(
        component=component,
        element=element,
        decimal=decimal,
        release=None if release == " " else release,
        repetition=None if repetition == " " else repetition,
        segment=terminator,
    )


def _una_error(message: str, index: int, char: str, start: int) -> EdifactError:
    return EdifactError(message, segment="UNA", index=index, value=char, position=start + 2 + index, reason="bad_una")


def _decode(value: str, charset: str, warnings: list[EdifactWarning], at: int) -> str:
    """Element text from the one-char-per-byte view into the declared repertoire (tolerantly)."""
    if value.isascii() or charset == "latin-1":
        return value
    raw = value.encode("latin-1")
    for candidate in (charset, "utf-8"):
        try:
            decoded = raw.decode(candidate)
        except UnicodeDecodeError:
            continue
        if candidate != charset:
            warnings.append(
                EdifactWarning(
                    f"text at byte {at} is not {charset} as declared; it was read as {candidate}", position=at
                )
            )
        return decoded
    warnings.append(
        EdifactWarning(f"text at byte {at} is not {charset} as declared; it was read as latin-1", position=at)
    )
    return value


def _segment(raw: _Raw, ordinal: int, chars: ServiceChars, charset: str, warnings: list[EdifactWarning]) -> Segment:
    tag = raw.tag
    if not _TAG.fullmatch(tag):
        raise EdifactError(
            f"{raw.preview!r} at byte {raw.offset} does not start with a segment tag (three capitals or digits)",
            value=raw.preview,
            position=raw.offset,
            reason="bad_segment",
        )
    elements = tuple(
        Element(
            tuple(tuple(_decode(c, charset, warnings, element.offsets[0]) for c in rep) for rep in element.repeats),
            element.offsets,
        )
        for element in raw.elements[1:]
    )
    return Segment(tag, elements, ordinal, raw.offset, chars)


def _header(text: str, start: int, warnings: list[EdifactWarning]) -> tuple[Header, _Tokenizer, int]:
    """UNA (optional) and UNB: the service characters, the syntax level and the charset."""
    una = text.startswith("UNA", start)
    if una:
        chars = _read_una(text, start)
        position = start + 9
        while position < len(text) and text[position] in _WHITESPACE and text[position] not in chars.delimiters:
            position += 1
    else:
        position = start
        separator = text[start + 3 : start + 4]
        if separator not in (LEVEL_A.element, LEVEL_B.element):
            raise EdifactError(
                f"UNB is followed by {separator!r}, not the element separator '+', and no UNA declares another",
                segment="UNB",
                value=separator,
                position=start + 3,
                reason="bad_una",
            )
        chars = LEVEL_A if separator == LEVEL_A.element else LEVEL_B
    if not text.startswith("UNB", position):
        found = _preview(text[position : position + 20])
        raise EdifactError(
            f"the UNA service string advice must be followed by UNB, found {found!r} at byte {position}",
            segment="UNB",
            position=position,
            reason="missing",
        )
    plain = ServiceChars(**{**_fields(chars), "repetition": None})  # the UNB has no repetitions
    raw = _Tokenizer(text, plain, warnings).segment(position)
    unb = _segment(raw, 0, chars, "ascii", warnings)
    version = check_unb(unb)
    if version >= 4 and (chars.repetition or not una) and chars is not LEVEL_B:
        chars = ServiceChars(**{**_fields(chars), "repetition": chars.repetition or "*"})
    elif chars.repetition:
        warnings.append(
            EdifactWarning(
                f"UNA5 {chars.repetition!r} is a repetition separator only from syntax version 4 (this is "
                f"{version}); it was read as data",
                segment="UNA",
                position=start + 7,
            )
        )
        chars = ServiceChars(**{**_fields(chars), "repetition": None})
    unb = Segment(unb.tag, unb.elements, 0, unb.offset, chars)
    header = Header(unb=unb, chars=chars, una=una, charset=CHARSETS[unb.get(1, 1)])
    return header, _Tokenizer(text, chars, warnings), raw.end


def _fields(chars: ServiceChars) -> dict:
    names = ("component", "element", "decimal", "release", "repetition", "segment")
    return {name: getattr(chars, name) for name in names}


def _text(raw: bytes) -> tuple[str, int]:
    data = bytes(raw)
    start = _start_of_data(data)
    if start >= len(data):
        raise EdifactError("the message is empty: there is no EDIFACT data to read", position=0, reason="empty")
    head = data[start : start + 3]
    if head not in (b"UNA", b"UNB"):
        found = _preview(data[start : start + 20].decode("latin-1"))
        kind = ", an X12 header" if head == b"ISA" else ""
        raise EdifactError(
            f"not an EDIFACT interchange: it must start with UNA or UNB, found {found!r}{kind}",
            position=start,
            reason="not_edifact",
        )
    return data.decode("latin-1"), start


def read_header(raw: bytes) -> Header | None:
    """The UNA/UNB of a message as far as they can be read (None when they cannot), so that a CONTRL can
    still answer the sender of an interchange whose body is broken."""
    try:
        text, start = _text(raw)
        header, _, _ = _header(text, start, [])
    except EdifactError:
        return None
    return header


def read_interchange(raw: bytes, *, strict: bool = True) -> Interchange:
    """Read one EDIFACT interchange from its raw bytes.

    Raises :class:`EdifactError` for anything that is not a readable interchange: empty input, X12 or
    other data, a broken UNA or UNB, control characters, segments outside messages, truncation, data
    after UNZ, and (when ``strict``) any UNT/UNE/UNZ count or reference mismatch. With ``strict=False``
    those mismatches are collected in ``Interchange.errors`` instead, so a CONTRL can reject exactly the
    messages concerned; structural damage still raises.
    """
    text, start = _text(raw)
    warnings: list[EdifactWarning] = []
    header, tokenizer, position = _header(text, start, warnings)
    builder = Builder(header=header, strict=strict, warnings=warnings)
    position = tokenizer.next_start(position)
    while position < len(text):
        if builder.unz is not None:
            raise builder.trailing(text, position)
        raw_segment = tokenizer.segment(position)
        segment = _segment(raw_segment, builder.next_ordinal, header.chars, header.charset, warnings)
        builder.add(segment)
        position = tokenizer.next_start(raw_segment.end)
    return builder.finish(len(text))
