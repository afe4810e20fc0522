"""The JSON parser for every API body: refuses what would crash the server later, with a 400.

- **Nesting deeper than `API_MAX_JSON_DEPTH`** (32 by default) is refused *before* the JSON
  decoder runs: the decoder recurses once per level and a body nested ~1,000 deep would end in a
  RecursionError (a 500). The check is one linear pass over the text.
- **Text no database can store** is refused after decoding: a lone UTF-16 surrogate (`"\\ud800"`,
  valid JSON escape syntax but not a character; it cannot be encoded as UTF-8, so it fails in the
  driver or when an error message echoes it) and the NUL character (PostgreSQL text cannot hold it).
  The answer is the usual validation error (`invalid`) naming where it was found, e.g.
  `{"lines[0].sku": ["contains a NUL character (\\u0000)"]}`.

Bytes that are not UTF-8 at all are already a 400 from DRF's parser.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers

# Backslash escapes, quotes and brackets: enough to follow strings and nesting. One alternative per
# position, so scanning is linear even for hostile bodies (no backtracking).
_TOKENS = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


class MalformedBody(exceptions.ParseError):
    """A 400 `malformed_request` that also carries facts for the error's `fields`."""

    def __init__(self, detail: str, **fields: Any) -> None:
        super().__init__(detail)
        self.fields = fields


def nesting_exceeds(text: str, limit: int) -> bool:
    """Whether arrays/objects in the JSON text nest deeper than `limit` (brackets in strings do not count)."""
    depth, in_string = 0, False
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char == '"':
            in_string = not in_string
        elif in_string or len(char) == 2:
            continue
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def unstorable_text(value: Any, path: str = "") -> tuple[str, str] | None:
    """(path, problem) of the first string or key holding a lone surrogate or NUL, else None."""
    if isinstance(value, str):
        return _text_problem(value, path)
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _text_problem(key, where) or unstorable_text(item, where)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = unstorable_text(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _text_problem(text: str, path: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return path, "contains a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return path, "contains a lone UTF-16 surrogate (an escape like \\ud800 that is not a character)"
    return None


def _safe_path(path: str) -> str:
    """The path as it can be shown back: a key may itself be the bad text."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the depth limit and the text checks above."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise MalformedBody(f"The body is not valid {encoding} text.") from exc
        limit = settings.API_MAX_JSON_DEPTH
        if nesting_exceeds(text, limit):
            raise MalformedBody(f"The JSON nests arrays and objects deeper than {limit} levels.", max_depth=limit)
        data = super().parse(_Bytes(raw), media_type, parser_context)
        found = unstorable_text(data)
        if found:
            path, problem = found
            raise exceptions.ValidationError({_safe_path(path) or "non_field_errors": [problem]})
        return data


class _Bytes:
    """A read-once stream over bytes already read, for the parent parser."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def read(self, *args) -> bytes:
        data, self._data = self._data, b""
        return data
