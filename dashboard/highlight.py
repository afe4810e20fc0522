"""Show a supplier's raw message safely, with the part that failed marked.

The raw bytes are untrusted: everything is HTML-escaped, undecodable bytes and control characters
are shown as `\\xNN`, and only our own `<mark>` tags are added. Where the quarantine reason gives a
byte `position` (the X12 reader does), the whole segment around it is marked; otherwise the first
segment with the named tag (and value, if given), or the CSV/JSON `line`, or the first occurrence of
the offending `value`. For reading, a line break is shown after each X12 segment terminator that
has none; the stored bytes are never changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

DISPLAY_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    note: str


@dataclass(frozen=True)
class Highlighted:
    html: SafeString
    marked: int
    truncated: bool
    size: int


def _x12_terminator(body: bytes) -> int | None:
    if body.startswith(b"ISA") and len(body) > 105:
        return body[105]
    return None


def _segments(body: bytes, terminator: int) -> list[tuple[int, int]]:
    """(start, end) of each segment, `end` just past its terminator; leading whitespace skipped."""
    spans, start = [], 0
    while start < len(body):
        while start < len(body) and body[start] in b"\r\n \t":
            start += 1
        if start >= len(body):
            break
        stop = body.find(bytes([terminator]), start)
        end = len(body) if stop < 0 else stop + 1
        spans.append((start, end))
        start = end
    return spans


def _lines(body: bytes) -> list[tuple[int, int]]:
    spans, start = [], 0
    for chunk in body.splitlines(keepends=True):
        spans.append((start, start + len(chunk.rstrip(b"\r\n"))))
        start += len(chunk)
    return spans


def _note(error: dict) -> str:
    return str(error.get("message") or error.get("code") or "error")


def _span_for(body: bytes, error: dict, segments: list[tuple[int, int]] | None, terminator: int | None) -> Span | None:
    note = _note(error)
    position = error.get("position")
    value = error.get("value")
    value_bytes = str(value).encode() if value not in (None, "") else b""
    if segments and isinstance(position, int) and 0 <= position < len(body):
        for start, end in segments:
            if start <= position < end:
                return Span(start, end, note)
    tag = error.get("segment")
    if segments and tag:
        tagged = [
            (start, end)
            for start, end in segments
            if body[start:end].startswith(str(tag).encode())
            and (
                len(body[start:end]) == len(str(tag))
                or body[start + len(str(tag))] not in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            )
        ]
        with_value = [(s, e) for s, e in tagged if value_bytes and value_bytes in body[s:e]]
        chosen = (with_value or tagged)[:1]
        if chosen:
            return Span(chosen[0][0], chosen[0][1], note)
    line = error.get("line")
    if isinstance(line, int) and line >= 1:
        lines = _lines(body)
        if line <= len(lines):
            return Span(*lines[line - 1], note)
    if value_bytes:
        at = body.find(value_bytes)
        if at >= 0:
            return Span(at, at + len(value_bytes), note)
    return None


def _text(chunk: bytes) -> str:
    decoded = chunk.decode("utf-8", errors="backslashreplace")
    shown = "".join(ch if ch in "\n\r\t" or ord(ch) >= 32 else f"\\x{ord(ch):02x}" for ch in decoded)
    return escape(shown)


def highlight_message(body: bytes, errors: list[dict]) -> Highlighted:
    size = len(body)
    truncated = size > DISPLAY_LIMIT
    shown = body[:DISPLAY_LIMIT]
    terminator = _x12_terminator(shown)
    segments = _segments(shown, terminator) if terminator is not None else None
    spans = [
        span for error in errors if isinstance(error, dict) and (span := _span_for(shown, error, segments, terminator))
    ]
    spans.sort(key=lambda s: (s.start, s.end))
    merged: list[Span] = []
    for span in spans:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), f"{last.note}; {span.note}")
        else:
            merged.append(span)
    breaks: set[int] = set()
    if segments:
        breaks = {end for _, end in segments if end < len(shown) and shown[end : end + 1] not in (b"\n", b"\r")}
    cuts = sorted({0, len(shown), *breaks, *(s.start for s in merged), *(s.end for s in merged)})
    out, open_span = [], None
    by_start = {s.start: s for s in merged}
    ends = {s.end for s in merged}
    for left, right in zip(cuts, cuts[1:], strict=False):
        if open_span is not None and left in ends:
            out.append("</mark>")
            open_span = None
        if left in by_start:
            open_span = by_start[left]
            out.append(f'<mark class="bad" title="{escape(open_span.note)}">')
        out.append(_text(shown[left:right]))
        if right in breaks:
            if open_span is not None and right in ends:
                out.append("</mark>")
                open_span = None
            out.append("\n")
    if open_span is not None:
        out.append("</mark>")
    return Highlighted(html=mark_safe("".join(out)), marked=len(merged), truncated=truncated, size=size)
