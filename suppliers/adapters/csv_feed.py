"""CSV feed files → the same JSON shape as the JSON feed → the same schema → canonical documents.

One file holds one document. The header row names columns; `document` and `version` are required
columns. Columns that are top-level fields of the schema (e.g. `shipment_id`) must hold the same
value on every row; the others are fields of one row of the document's array (`lines` or `items`).
Cells are typed by the schema: a column the schema declares `integer` becomes an int when it is
written as one, otherwise the text stays text and the schema reports it — so `qty` = `ten` is
quarantined as `lines/2/qty: 'ten' is not of type 'integer'`, with the CSV row and column named.
Empty cells are absent fields.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from suppliers.adapters import json_feed
from suppliers.documents import ParsedMessage
from suppliers.exceptions import SYNTAX, Problem

_INTEGER = re.compile(r"^[+-]?\d+$")
_ROW_PATH = re.compile(r"^(?P<array>lines|items)/(?P<index>\d+)(?:/(?P<column>[^/]+))?")


def _typed(value: str, spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    if "const" in spec and isinstance(spec["const"], int) and _INTEGER.match(value):
        return int(value)
    if kind == "integer" and _INTEGER.match(value):
        return int(value)
    if kind == "number":
        try:
            number = Decimal(value)
        except InvalidOperation:
            return value
        return number if number.is_finite() else value
    return value


def parse(raw: bytes) -> ParsedMessage:
    parsed = ParsedMessage(format="csv")
    text = json_feed.decode_text(raw, parsed, what="the CSV file")
    if text is None:
        return parsed
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        parsed.problems.append(Problem(code="invalid_csv", message=f"the CSV file cannot be read: {exc}", kind=SYNTAX))
        return parsed
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        parsed.problems.append(Problem(code="empty", message="the CSV file has no header row", kind=SYNTAX))
        return parsed
    header = [name.strip() for name in rows[0]]
    body = rows[1:]
    problems = _check_header(header)
    if problems:
        parsed.problems.extend(problems)
        return parsed
    if not body:
        parsed.problems.append(
            Problem(code="empty", message="the CSV file has a header row but no data rows", kind=SYNTAX, path="row 2")
        )
        return parsed
    first = dict(zip(header, body[0], strict=False))
    feed = json_feed.schema_for(
        first.get("document", "").strip() or None, _typed(first.get("version", "").strip(), {"type": "integer"})
    )
    if isinstance(feed, Problem):
        parsed.problems.append(_at_row(feed, 2, feed.path))
        return parsed
    payload, problems = _to_payload(header, body, feed)
    if problems:
        parsed.problems.extend(problems)
        return parsed
    return json_feed.parse_payload(payload, parsed, origin_of=_row_origin)


def _check_header(header: list[str]) -> list[Problem]:
    problems = []
    for required in ("document", "version"):
        if required not in header:
            problems.append(
                Problem(
                    code="missing_column",
                    message=f"the CSV header has no {required!r} column (columns: {', '.join(header)})",
                    kind=SYNTAX,
                    path="row 1",
                    value=required,
                )
            )
    seen = set()
    for name in header:
        if name in seen:
            problems.append(
                Problem(
                    code="duplicate_column",
                    message=f"column {name!r} appears twice in the header",
                    kind=SYNTAX,
                    path="row 1",
                    value=name,
                )
            )
        seen.add(name)
    return problems


def _to_payload(header: list[str], body: list[list[str]], feed: json_feed.FeedSchema) -> tuple[dict, list[Problem]]:
    header_fields, row_fields = feed.header_fields, feed.row_fields
    problems: list[Problem] = []
    unknown = [name for name in header if name not in header_fields and name not in row_fields]
    if unknown:
        allowed = sorted(set(header_fields) | set(row_fields))
        return {}, [
            Problem(
                code="unknown_column",
                message=f"column {name!r} is not a field of {feed.document}.v{feed.version} "
                f"(allowed: {', '.join(allowed)})",
                kind=SYNTAX,
                path="row 1",
                value=name,
            )
            for name in unknown
        ]
    payload: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    for number, cells in enumerate(body, start=2):
        if len(cells) > len(header):
            problems.append(
                Problem(
                    code="extra_cells",
                    message=f"CSV row {number} has {len(cells)} cells but the header names {len(header)} columns",
                    kind=SYNTAX,
                    path=f"row {number}",
                )
            )
            continue
        row: dict[str, Any] = {}
        for name, cell in zip(header, cells, strict=False):
            cell = cell.strip()
            if cell == "":
                continue
            if name in header_fields:
                value = _typed(cell, header_fields[name])
                if name in payload and payload[name] != value:
                    problems.append(
                        Problem(
                            code="inconsistent_header_field",
                            message=f"CSV row {number}, column {name}: {cell!r} differs from {payload[name]!r} in "
                            f"an earlier row; one file holds one document",
                            kind=SYNTAX,
                            path=f"row {number}/{name}",
                            value=cell,
                        )
                    )
                payload.setdefault(name, value)
            else:
                row[name] = _typed(cell, row_fields[name])
        rows.append(row)
    payload[feed.array_field] = rows
    return payload, problems


def _at_row(problem: Problem, row: int, column: str | None) -> Problem:
    where = f"CSV row {row}" + (f", column {column}" if column and not column.startswith("(") else "")
    return Problem(
        code=problem.code,
        message=f"{where}: {problem.message}",
        kind=problem.kind,
        segment=problem.segment,
        element=problem.element,
        value=problem.value,
        path=problem.path,
    )


def _row_origin(problem: Problem) -> Problem:
    """Name the CSV row and column of a schema problem whose path points into the array."""
    match = _ROW_PATH.match(problem.path or "")
    if match is None:
        column = (problem.path or "").split("/", 1)[0]
        return _at_row(problem, 2, column or None)
    return _at_row(problem, int(match["index"]) + 2, match["column"])
