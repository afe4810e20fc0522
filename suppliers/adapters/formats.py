"""Which adapter reads a raw message: decided from its first bytes, with the Content-Type as a tie-breaker.

Suppliers send with wrong or missing content types all the time, so the bytes win: an X12 interchange
starts with `ISA`, an EDIFACT one with `UNA` or `UNB`, a JSON document with `{` or `[`. CSV is taken
when the type says so or the first line looks like a CSV header with a `document` column. Anything else
is `unknown` and gets quarantined with a reason.
"""

from __future__ import annotations

from collections.abc import Callable

from suppliers.adapters import csv_feed, edifact_feed, json_feed, x12_feed
from suppliers.documents import ParsedMessage
from suppliers.exceptions import SYNTAX, Problem
from suppliers.models import MessageFormat
from suppliers.profiles import MessageProfiles

_BOM = b"\xef\xbb\xbf"
_EDIFACT_HEADS = (b"UNA", b"UNB")


def detect(raw: bytes, content_type: str = "") -> str:
    head = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    head = head.lstrip(b" \t\r\n")[:512]
    content_type = (content_type or "").split(";", 1)[0].strip().lower()
    if not head:
        return MessageFormat.UNKNOWN
    if head.startswith(b"ISA"):
        return MessageFormat.X12
    if head.startswith(_EDIFACT_HEADS):
        return MessageFormat.EDIFACT
    if head[:1] in (b"{", b"["):
        return MessageFormat.JSON
    first_line = head.split(b"\n", 1)[0].lower()
    if content_type in ("text/csv", "application/csv") or (b"," in first_line and b"document" in first_line):
        return MessageFormat.CSV
    if content_type in ("application/edi-x12", "application/x12"):
        return MessageFormat.X12
    if content_type in ("application/edifact", "application/edi-edifact"):
        return MessageFormat.EDIFACT
    if content_type == "application/json":
        return MessageFormat.JSON
    return MessageFormat.UNKNOWN


def _unknown(raw: bytes) -> ParsedMessage:
    parsed = ParsedMessage(format=MessageFormat.UNKNOWN)
    if not raw.strip():
        parsed.problems.append(
            Problem(code="empty", message="the message is empty: there is nothing to read", kind=SYNTAX, path="byte 0")
        )
    else:
        preview = raw.lstrip()[:20].decode("latin-1")  # Problem.as_dict escapes control bytes
        parsed.problems.append(
            Problem(
                code="unrecognised_format",
                message=f"not X12 (starts with ISA), EDIFACT (UNA or UNB), JSON (starts with {{) or CSV (a header "
                f"with a document column): it starts with {preview!r}",
                kind=SYNTAX,
                value=preview,
                path="byte 0",
            )
        )
    return parsed


PARSERS: dict[str, Callable[[bytes], ParsedMessage]] = {
    MessageFormat.X12: x12_feed.parse,
    MessageFormat.EDIFACT: edifact_feed.parse,
    MessageFormat.JSON: json_feed.parse,
    MessageFormat.CSV: csv_feed.parse,
    MessageFormat.UNKNOWN: _unknown,
}


def parse(raw: bytes, message_format: str, *, profiles: MessageProfiles | None = None) -> ParsedMessage:
    """Read a raw message with the adapter for its format. `profiles` (the message's supplier
    profiles, see suppliers.profiles) reach the adapters that map syntax: X12 and EDIFACT."""
    if message_format == MessageFormat.X12:
        return x12_feed.parse(raw, profiles)
    if message_format == MessageFormat.EDIFACT:
        return edifact_feed.parse(raw, profiles)
    return PARSERS.get(message_format, _unknown)(raw)
