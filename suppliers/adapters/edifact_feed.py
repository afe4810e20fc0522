"""EDIFACT interchange → canonical documents, with the EDIFACT toolkit (`suppliers.adapters.edifact`).

Thin on purpose, like `x12_feed`: the toolkit reads the envelopes and maps each message straight to the
format-neutral documents of `suppliers.documents`; this module turns every `EdifactError` into a
`Problem` of kind `syntax` (it also feeds the CONTRL) and refuses, as `business` problems, messages we
do not take from suppliers (an ORDERS, a CONTRL, a directory older than D.96A): readable, not applied.

The sender's supplier profile for each message (`suppliers.profiles`, DESADV sharing the 856's, ORDRSP
the 855's, INVOIC the 810's) is applied while mapping, as for X12: dates in the patterns it accepts for
the element (`DTM01-2`), and malformed segments it says to ignore (dropped, with a warning).
"""

from __future__ import annotations

import re
from dataclasses import replace

from suppliers.adapters.edifact import (
    MAPPERS,
    EdifactError,
    Header,
    Message,
    map_message,
    read_header,
    read_interchange,
)
from suppliers.documents import Origin, ParsedMessage
from suppliers.exceptions import BUSINESS, SYNTAX, Problem
from suppliers.profiles import DocumentProfile, MessageProfiles, defaults

#: The oldest directory we read (UNH02-2 D, UNH02-3 96A).
OLDEST_RELEASE = 1996
_RELEASE = re.compile(r"([0-9]{2})[A-Z]")


def problem_from_edifact(error: EdifactError, *, kind: str = SYNTAX) -> Problem:
    """One EdifactError as a stored problem: the toolkit's message already names element, value and rule."""
    if error.message_ref:
        parts = [f"UNG {error.group_ref}" if error.group_ref else "", f"UNH {error.message_ref}"]
        missing_segment = error.reason == "missing" and error.index is None
        if error.segment and error.ordinal and not missing_segment:  # a missing segment has no position of its own
            parts.append(f"{error.segment} #{error.ordinal}")
        path = "/".join(part for part in parts if part)
    elif error.position is not None:
        path = f"byte {error.position}"
    else:
        path = None
    return Problem(
        code=f"edifact_{error.reason}",
        message=error.message,
        kind=kind,
        segment=error.segment,
        element=error.element,
        value=error.value,
        path=path,
    )


def _sender(parsed: ParsedMessage, header: Header | None) -> None:
    if header is None:
        return
    parsed.envelope = header
    parsed.sender_qualifier = header.sender_qualifier
    parsed.sender_id = header.sender_id
    parsed.interchange_control = header.control_reference


def _release_problem(message: Message, origin: Origin) -> Problem | None:
    """D.96A and later: UNH02-2 ``D`` and a release whose year is 1996 or later."""
    found = _RELEASE.fullmatch(message.release)
    year = None
    if found:
        two = int(found.group(1))
        year = 1900 + two if two >= 90 else 2000 + two
    if message.version == "D" and year is not None and year >= OLDEST_RELEASE:
        return None
    return Problem(
        code="unsupported_version",
        message=f"message {message.reference} is {message.type} {message.version}.{message.release}; we read "
        "directory D.96A and later",
        kind=BUSINESS,
        segment="UNH",
        element="UNH02-3",
        value=f"{message.version}:{message.release}",
        path=origin.path,
    )


def _unsupported(message: Message, origin: Origin) -> Problem:
    return Problem(
        code="unsupported_document",
        message=f"message {message.reference} is an {message.type}; suppliers may send "
        f"{', '.join(sorted(MAPPERS))} only",
        kind=BUSINESS,
        segment="UNH",
        element="UNH02-1",
        value=message.type,
        path=origin.path,
    )


def parse(raw: bytes, profiles: MessageProfiles | None = None) -> ParsedMessage:
    """Read the interchange leniently (count mismatches are collected, not raised) and map every message
    under the sender's profiles (none: the strict defaults)."""
    profiles = profiles or defaults()
    parsed = ParsedMessage(format="edifact")
    try:
        interchange = read_interchange(raw, strict=False)
    except EdifactError as error:
        _sender(parsed, read_header(raw))
        parsed.syntax_errors.append(error)
        parsed.problems.append(problem_from_edifact(error))
        return parsed
    parsed.interchange = interchange
    _sender(parsed, interchange.header)
    profiles.identify_sender(interchange.sender_qualifier, interchange.sender_id, syntax="edifact")
    parsed.warnings = [str(warning) for warning in interchange.warnings]
    control = interchange.control_reference.strip()
    control = (control.lstrip("0") or "0") if control.isdigit() else control
    parsed.identity_keys.append(f"unb:{interchange.sender_qualifier}:{interchange.sender_id}:{control}")
    for error in interchange.errors:
        parsed.syntax_errors.append(error)
        parsed.problems.append(problem_from_edifact(error))
    for message in interchange.messages:
        parsed.document_types.append(message.type)
        path = f"UNG {message.group_ref}/UNH {message.reference}" if message.group_ref else f"UNH {message.reference}"
        origin = Origin(path=path, segment="BGM")
        if message.type not in MAPPERS:
            parsed.problems.append(_unsupported(message, origin))
            continue
        problem = _release_problem(message, origin)
        if problem is not None:
            parsed.problems.append(problem)
            continue
        try:
            document, problems = _mapped(message, origin, profiles.document(message.type))
        except EdifactError as error:
            parsed.syntax_errors.append(error)
            parsed.problems.append(problem_from_edifact(error))
            continue
        parsed.problems.extend(problems)
        if document is not None:
            parsed.documents.append(document)
    parsed.warnings += profiles.warnings
    return parsed


def _mapped(message: Message, origin: Origin, profile: DocumentProfile):
    """Map a message under the profile, dropping the malformed segments it says to ignore."""
    return profile.map_tolerating(
        lambda current: map_message(current, origin, profile), message, errors=(EdifactError,), without=_blank_segment
    )


def _blank_segment(message: Message, error: EdifactError) -> tuple[Message, str] | None:
    """The message with the segment the error names replaced by an empty one (positions kept); never UNH/UNT."""
    ordinal = error.ordinal or 0
    if not 1 < ordinal < len(message.segments):
        return None
    bad = message.segments[ordinal - 1]
    if bad.tag != error.segment:
        return None
    segments = (*message.segments[: ordinal - 1], replace(bad, tag="", elements=()), *message.segments[ordinal:])
    return replace(message, segments=segments), f"{bad.tag} #{ordinal} at byte {bad.offset}: {error.message}"


__all__ = ["parse", "problem_from_edifact"]
