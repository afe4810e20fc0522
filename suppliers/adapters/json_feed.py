"""JSON feed documents → canonical documents, validated by the versioned JSON Schemas in `feed_schemas/`.

A payload names its contract with `"document"` and `"version"` (`asn` + 1 → `feed_schemas/asn.v1.json`).
Nothing is guessed: a payload that breaks its schema is refused with the schema's own error path
(`lines/2/qty`), the offending value and the rule, and the CSV adapter reuses `validate` so a CSV
row is held to exactly the same contract.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from suppliers.documents import (
    AckLineDoc,
    Document,
    InventoryAdviceDoc,
    InventoryLineDoc,
    InvoiceDoc,
    InvoiceLineDoc,
    Origin,
    ParsedMessage,
    PoAckDoc,
    Product,
    ShipLineDoc,
    ShipNoticeDoc,
)
from suppliers.exceptions import SYNTAX, Problem

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "feed_schemas"
_SCHEMA_FILE = re.compile(r"^(?P<document>[a-z][a-z_]*)\.v(?P<version>\d+)\.json$")
#: Documents whose number identifies them: a second payload with the same number is a duplicate.
IDENTIFIED_BY = {"asn": "shipment_id", "invoice": "invoice_number"}


@dataclass(frozen=True)
class FeedSchema:
    document: str
    version: int
    schema: dict[str, Any]
    validator: Draft202012Validator

    @property
    def array_field(self) -> str:
        """The one array of rows in the document (`lines` or `items`): what a CSV row becomes."""
        return next(name for name, spec in self.schema["properties"].items() if spec.get("type") == "array")

    @property
    def header_fields(self) -> dict[str, dict[str, Any]]:
        return {name: spec for name, spec in self.schema["properties"].items() if name != self.array_field}

    @property
    def row_fields(self) -> dict[str, dict[str, Any]]:
        return self.schema["properties"][self.array_field]["items"]["properties"]


@cache
def schemas() -> dict[tuple[str, int], FeedSchema]:
    found = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        match = _SCHEMA_FILE.match(path.name)
        if not match:
            continue
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        key = (match["document"], int(match["version"]))
        found[key] = FeedSchema(
            document=key[0],
            version=key[1],
            schema=schema,
            validator=Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
        )
    return found


def schema_for(document: object, version: object) -> FeedSchema | Problem:
    """The schema a payload names, or a problem saying which documents and versions exist."""
    known = schemas()
    offered = ", ".join(f"{d} v{v}" for d, v in sorted(known))
    if not isinstance(document, str) or document not in {d for d, _ in known}:
        return Problem(
            code="unknown_document",
            message=f"document {document!r} is not a feed document we take ({offered})",
            kind=SYNTAX,
            value=None if document is None else str(document),
            path="document",
        )
    if isinstance(version, bool) or not isinstance(version, int) or (document, version) not in known:
        return Problem(
            code="unknown_schema_version",
            message=f"version {version!r} of document {document!r} does not exist ({offered})",
            kind=SYNTAX,
            value=None if version is None else str(version),
            path="version",
        )
    return known[(document, version)]


def path_of(error: ValidationError) -> str:
    return "/".join(str(part) for part in error.absolute_path)


def _message(error: ValidationError) -> str:
    """The validator's message, made precise for the cases where jsonschema's own is vague."""
    if error.validator == "anyOf" and error.context and all(e.validator == "required" for e in error.context):
        needed = sorted({e.validator_value[0] for e in error.context})
        return f"needs one of {', '.join(needed)}"
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        return f"{error.message}; allowed: {', '.join(allowed)}"
    if error.validator == "format" and error.validator_value == "date":
        return f"{error.instance!r} is not a calendar date (YYYY-MM-DD)"
    if error.validator == "pattern" and error.schema.get("format") == "date":
        return f"{error.instance!r} is not a date in YYYY-MM-DD form"
    return error.message


def validate(payload: Any, feed: FeedSchema) -> list[Problem]:
    """Every schema violation as a problem with its path, sorted by place in the document."""
    problems = []
    found = sorted(feed.validator.iter_errors(payload), key=lambda e: [str(p) for p in e.absolute_path])
    pattern_failed = {path_of(e) for e in found if e.validator == "pattern"}
    for error in found:
        path = path_of(error)
        if error.validator == "format" and path in pattern_failed:
            continue  # the pattern error already says what is wrong with this date
        value = error.instance if isinstance(error.instance, (str, int, float, Decimal)) else None
        problems.append(
            Problem(
                code="schema_violation",
                message=f"{path or '(document)'}: {_message(error)} ({feed.document}.v{feed.version} schema)",
                kind=SYNTAX,
                element=error.validator,
                value=None if value is None else str(value),
                path=path or "(document)",
            )
        )
    return problems


def decode_text(raw: bytes, parsed: ParsedMessage, *, what: str) -> str | None:
    """The message as text (UTF-8, a BOM allowed); None with a `not_utf8` problem naming the byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        parsed.problems.append(
            Problem(
                code="not_utf8",
                message=f"{what} is not valid UTF-8: byte 0x{raw[exc.start]:02X} at offset {exc.start}",
                kind=SYNTAX,
                value=f"0x{raw[exc.start]:02X}",
                path=f"byte {exc.start}",
            )
        )
        return None


def parse(raw: bytes) -> ParsedMessage:
    parsed = ParsedMessage(format="json")
    text = decode_text(raw, parsed, what="the JSON body")
    if text is None:
        return parsed
    try:
        payload = json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        parsed.problems.append(
            Problem(
                code="invalid_json",
                message=f"the body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                kind=SYNTAX,
                path=f"line {exc.lineno} column {exc.colno}",
            )
        )
        return parsed
    except (ValueError, RecursionError) as exc:
        parsed.problems.append(
            Problem(code="invalid_json", message=f"the body is not usable JSON: {exc}", kind=SYNTAX, path="(document)")
        )
        return parsed
    return parse_payload(payload, parsed)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_payload(payload: Any, parsed: ParsedMessage, *, origin_of=None) -> ParsedMessage:
    """Validate a decoded payload against the schema it names and convert it (shared with CSV)."""
    if not isinstance(payload, dict):
        parsed.problems.append(
            Problem(
                code="schema_violation",
                message=f"(document): a feed document is a JSON object, not {type(payload).__name__}",
                kind=SYNTAX,
                path="(document)",
            )
        )
        return parsed
    if isinstance(payload.get("supplier"), str):
        parsed.supplier_code = payload["supplier"]
    feed = schema_for(payload.get("document"), payload.get("version"))
    if isinstance(feed, Problem):
        parsed.problems.append(feed)
        return parsed
    parsed.document_types.append(f"{feed.document}.v{feed.version}")
    problems = validate(payload, feed)
    if origin_of is not None:
        problems = [origin_of(problem) for problem in problems]
    if problems:
        parsed.problems.extend(problems)
        return parsed
    key_field = IDENTIFIED_BY.get(feed.document)
    if key_field:
        parsed.identity_keys.append(f"doc:{feed.document}:{payload[key_field]}")
    parsed.documents.append(_CONVERT[feed.document](payload))
    return parsed


# --- Conversion (the payload is valid here) -----------------------------------------------------


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _product(row: dict[str, Any]) -> Product:
    return Product(sku=row.get("sku"), supplier_part=row.get("supplier_part"))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _asn(payload: dict[str, Any]) -> Document:
    origin = Origin()
    return ShipNoticeDoc(
        number=payload["shipment_id"],
        notice_date=None,
        shipped_on=_date(payload.get("shipped_on")),
        expected_on=_date(payload["expected_on"]),
        carrier=payload.get("carrier"),
        bill_of_lading=payload.get("bill_of_lading"),
        lines=tuple(
            ShipLineDoc(
                po_number=row["po_number"],
                line_no=row.get("line_number"),
                product=_product(row),
                qty=Decimal(row["qty"]),
                unit=row.get("unit"),
                pack=row.get("pack"),
                origin=origin.child(f"lines/{index}"),
            )
            for index, row in enumerate(payload["lines"])
        ),
        origin=origin,
    )


def _po_ack(payload: dict[str, Any]) -> Document:
    origin = Origin()
    header_date = _date(payload.get("expected_date"))
    return PoAckDoc(
        po_number=payload["po_number"],
        rejected=False,
        ack_date=_date(payload.get("ack_date")),
        expected_date=header_date,
        lines=tuple(
            AckLineDoc(
                line_no=row["line_number"],
                product=_product(row),
                status=row["status"],
                code=row["status"],
                qty=_decimal(row.get("qty")),
                unit=row.get("unit"),
                unit_price=_decimal(row.get("unit_price")),
                expected_date=_date(row.get("expected_date")) or header_date,
                origin=origin.child(f"lines/{index}"),
            )
            for index, row in enumerate(payload["lines"])
        ),
        origin=origin,
    )


def _invoice(payload: dict[str, Any]) -> Document:
    origin = Origin()
    return InvoiceDoc(
        number=payload["invoice_number"],
        invoice_date=date.fromisoformat(payload["invoice_date"]),
        po_number=payload["po_number"],
        currency=payload.get("currency"),
        total=_decimal(payload.get("total")),
        lines=tuple(
            InvoiceLineDoc(
                line_no=row.get("line_number"),
                product=_product(row),
                qty=Decimal(row["qty"]),
                unit=row.get("unit"),
                unit_price=_decimal(row["unit_price"]),
                origin=origin.child(f"lines/{index}"),
            )
            for index, row in enumerate(payload["lines"])
        ),
        origin=origin,
    )


def _inventory(payload: dict[str, Any]) -> Document:
    origin = Origin()
    names = ("available", "on_hand", "on_hold", "backordered", "on_order")
    return InventoryAdviceDoc(
        reference=payload.get("reference"),
        advice_date=_date(payload["as_of"]),
        items=tuple(
            InventoryLineDoc(
                product=_product(row),
                quantities={name: Decimal(row[name]) for name in names if name in row},
                unit=row.get("unit"),
                origin=origin.child(f"items/{index}"),
            )
            for index, row in enumerate(payload["items"])
        ),
        origin=origin,
    )


_CONVERT = {"asn": _asn, "po_ack": _po_ack, "invoice": _invoice, "inventory": _inventory}
