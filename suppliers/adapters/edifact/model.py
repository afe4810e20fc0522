"""The generic EDIFACT tree the reader returns: interchange → (groups →) messages → segments.

Nothing here knows what a DESADV means; the mappers do. Every segment keeps its byte offset in the raw
message and its position in its message, and every component its byte offset, so a later error can
point at the exact place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from suppliers.adapters.edifact.errors import EdifactError, EdifactWarning, element_ref


@dataclass(frozen=True, slots=True)
class ServiceChars:
    """The service characters of an interchange: from its UNA, or the defaults of its syntax level.

    ``release`` and ``repetition`` are None when not in use (a space in the UNA; repetition only
    from syntax version 4 on).
    """

    component: str = ":"
    element: str = "+"
    decimal: str = "."
    release: str | None = "?"
    repetition: str | None = None
    segment: str = "'"

    @property
    def delimiters(self) -> tuple[str, ...]:
        """The characters that structure data (what a release character may release)."""
        chars = (self.component, self.element, self.segment, self.release, self.repetition)
        return tuple(char for char in chars if char)


@dataclass(frozen=True, slots=True)
class Element:
    """One stand-alone or composite data element: its repetitions (syntax 4; usually one), each a tuple of
    components, and the byte offset of each component of the first repetition."""

    repeats: tuple[tuple[str, ...], ...]
    offsets: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment: its tag and elements (``get(1)`` is the first element after the tag).

    ``ordinal`` is the 1-based position in its message (UNH = 1, as UNT01 counts and CONTRL UCS01
    reports); service segments outside messages (UNB, UNG, UNE, UNZ) have 0. ``offset`` is the byte
    offset of the tag in the raw message.
    """

    tag: str
    elements: tuple[Element, ...]
    ordinal: int
    offset: int
    chars: ServiceChars = field(repr=False, compare=False)

    def get(self, index: int, component: int = 1) -> str:
        """Component ``component`` of element ``index`` (both 1-based); ``""`` when absent."""
        if not 1 <= index <= len(self.elements):
            return ""
        first = self.elements[index - 1].repeats[0]
        return first[component - 1] if 1 <= component <= len(first) else ""

    def components(self, index: int) -> tuple[str, ...]:
        """Every component of element ``index`` (first repetition); ``()`` when absent."""
        return self.elements[index - 1].repeats[0] if 1 <= index <= len(self.elements) else ()

    def repetitions(self, index: int) -> tuple[tuple[str, ...], ...]:
        """Every repetition of element ``index``, each a tuple of components."""
        return self.elements[index - 1].repeats if 1 <= index <= len(self.elements) else ()

    def ref(self, index: int, component: int | None = None) -> str:
        """The reference of an element or component, e.g. ``BGM02`` or ``DTM01-2``."""
        return element_ref(self.tag, index, component)

    def element_offset(self, index: int, component: int = 1) -> int:
        """Byte offset of a component in the raw message (the segment's offset when it is absent)."""
        if not 1 <= index <= len(self.elements):
            return self.offset
        offsets = self.elements[index - 1].offsets
        return offsets[component - 1] if 1 <= component <= len(offsets) else offsets[-1]

    def error(
        self, message: str, index: int | None = None, component: int | None = None, *, reason: str = "invalid_value"
    ) -> EdifactError:
        """An :class:`EdifactError` that points at this segment (and at an element or component)."""
        return EdifactError(
            message,
            segment=self.tag,
            index=index,
            component=component,
            value=self.get(index, component or 1) if index is not None else None,
            position=self.element_offset(index, component or 1) if index is not None else self.offset,
            ordinal=self.ordinal or None,
            reason=reason,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One UNH…UNT message; ``segments`` includes UNH and UNT."""

    segments: tuple[Segment, ...]
    group_ref: str | None = None

    @property
    def unh(self) -> Segment:
        return self.segments[0]

    @property
    def unt(self) -> Segment:
        return self.segments[-1]

    @property
    def body(self) -> tuple[Segment, ...]:
        """The segments between UNH and UNT, which is what a mapper reads."""
        return self.segments[1:-1]

    @property
    def reference(self) -> str:
        """UNH01, the message reference number."""
        return self.unh.get(1)

    @property
    def type(self) -> str:
        """UNH02-1, e.g. ``DESADV``."""
        return self.unh.get(2, 1)

    @property
    def version(self) -> str:
        """UNH02-2, ``D`` for a directory version."""
        return self.unh.get(2, 2)

    @property
    def release(self) -> str:
        """UNH02-3, e.g. ``96A``."""
        return self.unh.get(2, 3)

    @property
    def agency(self) -> str:
        return self.unh.get(2, 4)

    @property
    def association(self) -> str:
        """UNH02-5, e.g. ``EAN005``."""
        return self.unh.get(2, 5)

    @property
    def identifier(self) -> tuple[str, ...]:
        """UNH02 as sent (type, version, release, agency, association), for the CONTRL UCM02."""
        return self.unh.components(2)


@dataclass(frozen=True, slots=True)
class Group:
    """One UNG…UNE functional group."""

    ung: Segment
    une: Segment
    messages: tuple[Message, ...]

    @property
    def reference(self) -> str:
        """UNG05, the group reference number."""
        return self.ung.get(5)


@dataclass(frozen=True, slots=True)
class Header:
    """What the UNA and UNB say: enough to answer the sender with a CONTRL, also when the rest is broken."""

    unb: Segment
    chars: ServiceChars
    una: bool
    charset: str

    @property
    def syntax_identifier(self) -> str:
        """UNB01-1, e.g. ``UNOC`` (the character repertoire)."""
        return self.unb.get(1, 1)

    @property
    def syntax_version(self) -> str:
        """UNB01-2, ``1`` to ``4``."""
        return self.unb.get(1, 2)

    @property
    def sender(self) -> tuple[str, ...]:
        """UNB02 as sent: id, qualifier, reverse routing address."""
        return self.unb.components(2)

    @property
    def sender_id(self) -> str:
        return self.unb.get(2, 1).strip()

    @property
    def sender_qualifier(self) -> str:
        return self.unb.get(2, 2).strip()

    @property
    def recipient(self) -> tuple[str, ...]:
        """UNB03 as sent: id, qualifier, routing address."""
        return self.unb.components(3)

    @property
    def recipient_id(self) -> str:
        return self.unb.get(3, 1).strip()

    @property
    def recipient_qualifier(self) -> str:
        return self.unb.get(3, 2).strip()

    @property
    def control_reference(self) -> str:
        """UNB05, the number duplicates are recognised by (with the sender id)."""
        return self.unb.get(5)

    @property
    def acknowledgement_requested(self) -> bool:
        """UNB09 = 1: the sender asks for a CONTRL also when nothing is wrong."""
        return self.unb.get(9) == "1"

    @property
    def test(self) -> bool:
        """UNB11 = 1: a test interchange."""
        return self.unb.get(11) == "1"


@dataclass(frozen=True, slots=True)
class Interchange:
    """One UNB…UNZ interchange as read from the raw bytes.

    ``messages`` lists every message, also those inside groups (``groups`` is empty when the
    interchange has none). ``warnings`` lists what the reader tolerated; ``errors`` holds the count and
    reference mismatches collected by a lenient read (``strict=False``).
    """

    header: Header
    unz: Segment
    messages: tuple[Message, ...]
    groups: tuple[Group, ...] = ()
    warnings: tuple[EdifactWarning, ...] = ()
    errors: tuple[EdifactError, ...] = field(default=(), compare=False)

    @property
    def sender_id(self) -> str:
        return self.header.sender_id

    @property
    def sender_qualifier(self) -> str:
        return self.header.sender_qualifier

    @property
    def recipient_id(self) -> str:
        return self.header.recipient_id

    @property
    def control_reference(self) -> str:
        return self.header.control_reference

    def find(self, message_type: str | None = None) -> list[Message]:
        """The messages of one type (all when None), in order."""
        return [m for m in self.messages if message_type is None or m.type == message_type]
