"""The CONTRL we return for an EDIFACT interchange: a syntax rejection, or the acknowledgement UNB09 asks for.

One interchange addressed back to the sender (UNB sender and recipient swapped), in the syntax identifier
and version it used, with an explicit UNA (``:+.? '``, and ``*`` as repetition separator in syntax 4)
and one CONTRL message (``CONTRL:D:3:UN``, syntax 4: ``CONTRL:4:1:UN``):

- UCI names the received interchange (UNB05, sender, recipient): action 7 (acknowledged; lower levels
  too unless reported) or 4 (rejected), with the error code and the service segment (UNA/UNB/UNZ) and
  element when the error is in the envelope itself;
- per received message a UCM (inside a UCF per group when the interchange has groups): action 7 or 4;
  an error in UNH/UNT is named in the UCM, an error in the body by UCS (segment position, UNH = 1) and
  UCD (syntax error code, element position counting the tag as 1, component position).

Control references come from the caller (the services own the per-supplier sequences).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from suppliers.adapters.edifact.errors import INTERCHANGE_SEGMENTS, EdifactError
from suppliers.adapters.edifact.model import Group, Header, Interchange, Message

ACKNOWLEDGED, REJECTED = "7", "4"
_MAX_REFERENCE = 99_999_999_999_999  # an..14


class _Writer:
    def __init__(self, version: str) -> None:
        self.repetition = "*" if version == "4" else None
        self.segments: list[str] = []

    def escape(self, value: str) -> str:
        specials = "?:+'" + (self.repetition or "")
        return "".join(f"?{char}" if char in specials else char for char in value)

    def add(self, tag: str, *elements: str | Sequence[str] | None) -> None:
        parts = []
        for element in elements:
            if element is None:
                parts.append("")
            elif isinstance(element, str):
                parts.append(self.escape(element))
            else:
                components = [self.escape(c) for c in element]
                while components and components[-1] == "":
                    components.pop()
                parts.append(":".join(components))
        while parts and parts[-1] == "":
            parts.pop()
        self.segments.append("+".join((tag, *parts)))


def _reference(value: int, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_REFERENCE:
        raise EdifactError(f"{what} {value!r} is not a control reference (1 to 14 digits)", reason="unwritable")
    return str(value)


def _position(error: EdifactError) -> list[str] | None:
    """S011: the element position counting the tag as 1, and the component position when there is one."""
    if not error.index:
        return None
    return [str(error.index + 1), str(error.component)] if error.component else [str(error.index + 1)]


def _belongs(error: EdifactError, message: Message) -> bool:
    return error.message_ref == message.reference and (error.group_ref or None) == (message.group_ref or None)


def _message_response(writer: _Writer, message: Message, errors: list[EdifactError]) -> None:
    mine = [error for error in errors if _belongs(error, message)]
    envelope = next((e for e in mine if e.segment in ("UNH", "UNT")), None)
    if envelope is not None:
        code, tag = envelope.syntax_code, envelope.segment
        writer.add("UCM", message.reference, message.identifier, REJECTED, code, tag, _position(envelope))
    else:
        writer.add("UCM", message.reference, message.identifier, REJECTED if mine else ACKNOWLEDGED)
    for error in mine:
        if error is envelope or error.segment in ("UNH", "UNT"):
            continue
        position = _position(error)
        writer.add("UCS", str(error.ordinal or 1), None if position else error.syntax_code)
        if position:
            writer.add("UCD", error.syntax_code, position)


def _interchange_response(writer: _Writer, header: Header, first: EdifactError | None) -> None:
    """UCI: the received UNB05, sender and recipient; rejected with the first interchange-level error,
    naming the service segment and element when it is in UNA/UNB/UNZ."""
    uci: list = [header.control_reference, header.sender, header.recipient, REJECTED if first else ACKNOWLEDGED]
    if first is not None:
        in_envelope = first.segment in INTERCHANGE_SEGMENTS
        uci += [first.syntax_code, first.segment if in_envelope else None, _position(first) if in_envelope else None]
    writer.add("UCI", *uci)


def _group_response(writer: _Writer, group: Group, errors: list[EdifactError]) -> None:
    """UCF for one group (rejected when anything in it is), then a UCM for each of its messages."""
    envelope = next((e for e in errors if e.segment in ("UNG", "UNE") and not e.message_ref), None)
    response = [group.reference, group.ung.components(2), group.ung.components(3)]
    if envelope is not None:
        response += [REJECTED, envelope.syntax_code, envelope.segment, _position(envelope)]
    else:
        response.append(REJECTED if errors else ACKNOWLEDGED)
    writer.add("UCF", *response)
    for message in group.messages:
        _message_response(writer, message, errors)


def build_contrl(
    received: Interchange | Header,
    errors: Sequence[EdifactError] = (),
    *,
    interchange_control: int,
    message_reference: int,
    created_at: datetime,
    newline: bool = True,
) -> bytes:
    """A CONTRL for ``received``: an :class:`Interchange` (lenient read: its count errors are included) or,
    when the interchange could not be read, its :class:`Header` and the error that stopped the read.

    Rejected when any error concerns the interchange itself (or the read failed); each message named by
    an error is rejected with its segment and element; every other message is acknowledged.
    """
    interchange = received if isinstance(received, Interchange) else None
    header = interchange.header if interchange else received
    every = [*errors, *(interchange.errors if interchange else ())]
    messages = interchange.messages if interchange else ()
    known = {(m.reference, m.group_ref or None) for m in messages}
    groups = {group.reference for group in interchange.groups} if interchange else set()

    def concerns_interchange(error: EdifactError) -> bool:
        if error.message_ref is not None:
            return (error.message_ref, error.group_ref or None) not in known
        return not (error.group_ref and error.group_ref in groups)

    overall = [error for error in every if concerns_interchange(error)]
    if interchange is None and not overall:
        raise EdifactError("a CONTRL for an unread interchange needs the error that stopped it", reason="unwritable")
    version = header.syntax_version if header.syntax_version in ("1", "2", "3", "4") else "3"
    writer = _Writer(version)
    reference = _reference(message_reference, "the CONTRL message reference")
    writer.add("UNH", reference, ("CONTRL", "4", "1", "UN") if version == "4" else ("CONTRL", "D", "3", "UN"))
    _interchange_response(writer, header, overall[0] if overall else None)
    if interchange is not None and interchange.groups:
        for group in interchange.groups:
            _group_response(writer, group, [e for e in every if e.group_ref == group.reference])
    else:
        for message in messages:
            _message_response(writer, message, every)
    writer.add("UNT", str(len(writer.segments) + 1), reference)
    return _envelope(header, writer, interchange_control, created_at, version, newline)


def _envelope(
    header: Header, writer: _Writer, interchange_control: int, created_at: datetime, version: str, newline: bool
) -> bytes:
    control = _reference(interchange_control, "the interchange control reference")
    una = "UNA:+.?" + ("*" if version == "4" else " ") + "'"
    unb = _Writer(version)
    stamp = created_at.strftime("%Y%m%d" if version == "4" else "%y%m%d"), created_at.strftime("%H%M")
    recipient = [header.sender_id, header.sender_qualifier, header.unb.get(2, 3)]
    unb.add("UNB", (header.syntax_identifier, version), header.recipient[:2], recipient, stamp, control)
    unz = _Writer(version)
    unz.add("UNZ", "1", control)
    terminator = "'" + ("\n" if newline else "")
    text = terminator.join([una[:-1], *unb.segments, *writer.segments, *unz.segments]) + terminator
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:  # pragma: no cover - the reader only lets printable ASCII into envelopes
        raise EdifactError(f"the CONTRL cannot be written as ASCII: {exc}", reason="unwritable") from None
