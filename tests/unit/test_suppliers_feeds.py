"""The adapters without a database: format detection, JSON Schema validation with precise paths, CSV rows
held to the same schema, and the X12 → canonical document conversion."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from suppliers.adapters import csv_feed, formats, json_feed, x12_feed
from suppliers.documents import InventoryAdviceDoc, InvoiceDoc, PoAckDoc, Product, ShipNoticeDoc
from suppliers.exceptions import Problem, printable
from tests.integration.test_suppliers_setup import asn_body, interchange


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        (b"ISA*00*...", "", "x12"),
        (b"\xef\xbb\xbf\r\n  ISA*00", "text/plain", "x12"),
        (b"UNA:+.? 'UNB+UNOC", "", "edifact"),
        (b"\r\nUNB+UNOA:4+A+B", "text/plain", "edifact"),
        (b"hello", "application/edifact", "edifact"),
        (b'  {"document": "asn"}', "text/plain", "json"),
        (b"[1, 2]", "", "json"),
        (b"document,version,shipment_id\nasn,1,X", "", "csv"),
        (b"a,b\n1,2", "text/csv; charset=utf-8", "csv"),
        (b"hello", "application/json", "json"),
        (b"hello", "", "unknown"),
        (b"", "application/json", "unknown"),
    ],
)
def test_format_is_recognised_from_the_bytes_first(raw, content_type, expected):
    assert formats.detect(raw, content_type) == expected


def test_every_feed_schema_is_valid_and_versioned():
    found = json_feed.schemas()
    assert sorted(found) == [("asn", 1), ("inventory", 1), ("invoice", 1), ("po_ack", 1)]
    for (document, version), feed in found.items():
        assert feed.schema["$id"] == f"{document}.v{version}"
        assert feed.schema["properties"]["document"] == {"const": document}
        assert feed.array_field in ("lines", "items")


def asn(**overrides) -> dict:
    payload = {
        "document": "asn",
        "version": 1,
        "supplier": "ACME",
        "shipment_id": "S-1",
        "shipped_on": "2026-01-10",
        "expected_on": "2026-01-12",
        "lines": [{"po_number": "PO-1", "line_number": 2, "supplier_part": "P-1", "qty": 5, "unit": "CA"}],
    }
    return {**payload, **overrides}


def test_a_valid_json_asn_becomes_a_ship_notice():
    parsed = json_feed.parse(json.dumps(asn()).encode())
    assert parsed.problems == []
    assert parsed.supplier_code == "ACME"
    assert parsed.identity_keys == ["doc:asn:S-1"]
    assert parsed.document_types == ["asn.v1"]
    [doc] = parsed.documents
    assert isinstance(doc, ShipNoticeDoc)
    assert (doc.number, doc.shipped_on, doc.expected_on) == ("S-1", date(2026, 1, 10), date(2026, 1, 12))
    [line] = doc.lines
    assert (line.po_number, line.line_no, line.product, line.qty, line.unit, line.origin.path) == (
        "PO-1",
        2,
        Product(supplier_part="P-1"),
        Decimal(5),
        "CA",
        "lines/0",
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (asn(version=2), [("unknown_schema_version", "version")]),
        (asn(document="order"), [("unknown_document", "document")]),
        ({"version": 1}, [("unknown_document", "document")]),
        (asn(expected_on="2026-02-30"), [("schema_violation", "expected_on")]),
        (asn(lines=[]), [("schema_violation", "lines")]),
        (asn(lines=[{"po_number": "PO-1", "qty": 1}]), [("schema_violation", "lines/0")]),
        (asn(lines=[{"po_number": "PO-1", "sku": "A", "qty": 1.5}]), [("schema_violation", "lines/0/qty")]),
        (asn(extra=1), [("schema_violation", "(document)")]),
        ([asn()], [("schema_violation", "(document)")]),
    ],
)
def test_json_schema_violations_are_reported_with_their_path(payload, expected):
    parsed = json_feed.parse(json.dumps(payload).encode())
    assert [(p.code, p.path) for p in parsed.problems] == expected
    assert parsed.documents == []


def test_json_messages_are_precise():
    def message(payload) -> str:
        return json_feed.parse(json.dumps(payload).encode()).problems[0].message

    assert message(asn(lines=[{"po_number": "PO-1", "qty": 1}])) == (
        "lines/0: needs one of sku, supplier_part (asn.v1 schema)"
    )
    assert message(asn(expected_on="2026-02-30")) == (
        "expected_on: '2026-02-30' is not a calendar date (YYYY-MM-DD) (asn.v1 schema)"
    )
    assert message(asn(colour="red")).startswith(
        "(document): Additional properties are not allowed ('colour' was unexpected); allowed: bill_of_lading, "
    )
    assert message(asn(version=3)) == (
        "version 3 of document 'asn' does not exist (asn v1, inventory v1, invoice v1, po_ack v1)"
    )


def test_invalid_json_and_constants_are_problems_not_exceptions():
    assert json_feed.parse(b'{"document": ').problems[0].message == (
        "the body is not JSON: Expecting value at line 1 column 14"
    )
    assert json_feed.parse(b'{"qty": NaN}').problems[0].code == "invalid_json"
    assert json_feed.parse(b"[" * 100_000).problems[0].code == "invalid_json"


def test_other_json_documents_convert():
    ack = json_feed.parse(
        json.dumps(
            {
                "document": "po_ack",
                "version": 1,
                "po_number": "PO-1",
                "expected_date": "2026-03-01",
                "lines": [{"line_number": 1, "status": "changed", "qty": 4, "unit_price": 2.5}],
            }
        ).encode()
    ).documents[0]
    assert isinstance(ack, PoAckDoc)
    assert (ack.lines[0].status, ack.lines[0].qty, ack.lines[0].unit_price, ack.lines[0].expected_date) == (
        "changed",
        Decimal(4),
        Decimal("2.5"),
        date(2026, 3, 1),
    )
    invoice = json_feed.parse(
        json.dumps(
            {
                "document": "invoice",
                "version": 1,
                "invoice_number": "I-1",
                "invoice_date": "2026-03-02",
                "po_number": "PO-1",
                "total": 10.01,
                "lines": [{"sku": "A", "qty": 1, "unit_price": 10.01}],
            }
        ).encode()
    )
    assert invoice.identity_keys == ["doc:invoice:I-1"]
    assert isinstance(invoice.documents[0], InvoiceDoc)
    assert invoice.documents[0].total == Decimal("10.01")
    advice = json_feed.parse(
        json.dumps(
            {
                "document": "inventory",
                "version": 1,
                "as_of": "2026-03-03",
                "items": [{"sku": "A", "available": 7, "on_hold": 1}],
            }
        ).encode()
    )
    assert advice.identity_keys == []
    doc = advice.documents[0]
    assert isinstance(doc, InventoryAdviceDoc)
    assert doc.items[0].quantities == {"available": Decimal(7), "on_hold": Decimal(1)}


CSV_HEADER = "document,version,shipment_id,expected_on,po_number,supplier_part,qty\n"


def test_csv_rows_become_the_json_shape_and_one_document():
    parsed = csv_feed.parse(
        (CSV_HEADER + "asn,1,S-9,2026-01-20,PO-1,P-1,4\nasn,1,S-9,2026-01-20,PO-2,P-2,6\n\n").encode()
    )
    assert parsed.problems == []
    assert parsed.format == "csv"
    [doc] = parsed.documents
    assert [(line.po_number, line.product.supplier_part, line.qty) for line in doc.lines] == [
        ("PO-1", "P-1", Decimal(4)),
        ("PO-2", "P-2", Decimal(6)),
    ]


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("", "empty", "the CSV file has no header row"),
        (CSV_HEADER, "empty", "the CSV file has a header row but no data rows"),
        (
            "shipment_id,qty\nS,1\n",
            "missing_column",
            "the CSV header has no 'document' column (columns: shipment_id, qty)",
        ),
        ("document,version,qty,qty\nasn,1,1,1\n", "duplicate_column", "column 'qty' appears twice in the header"),
        (
            "document,version,colour\nasn,1,red\n",
            "unknown_column",
            "column 'colour' is not a field of asn.v1 (allowed: bill_of_lading, carrier, document, expected_on, "
            "line_number, pack, po_number, qty, shipment_id, shipped_on, sku, supplier, supplier_part, unit, version)",
        ),
        (
            CSV_HEADER + "asn,1,S-1,2026-01-20,PO-1,P-1,4\nasn,1,S-2,2026-01-20,PO-1,P-1,4\n",
            "inconsistent_header_field",
            "CSV row 3, column shipment_id: 'S-2' differs from 'S-1' in an earlier row; one file holds one document",
        ),
        (
            CSV_HEADER + "asn,1,S,2026-01-20,PO,P,4,extra\n",
            "extra_cells",
            "CSV row 2 has 8 cells but the header names 7 columns",
        ),
        (
            CSV_HEADER + "asn,1,S,2026-01-20,PO,P,-3\n",
            "schema_violation",
            "CSV row 2, column qty: lines/0/qty: -3 is less than the minimum of 1 (asn.v1 schema)",
        ),
        (
            CSV_HEADER + "asn,1,S,2026/01/20,PO,P,3\n",
            "schema_violation",
            "CSV row 2, column expected_on: expected_on: '2026/01/20' is not a date in YYYY-MM-DD form (asn.v1 schema)",
        ),
        (
            "document,version,shipment_id\nasn,7,S\n",
            "unknown_schema_version",
            "CSV row 2, column version: version 7 of document 'asn' does not exist (asn v1, inventory v1, invoice v1, "
            "po_ack v1)",
        ),
    ],
)
def test_csv_problems_name_the_row_and_column(text, code, message):
    [problem] = csv_feed.parse(text.encode()).problems[:1]
    assert (problem.code, problem.message) == (code, message)


def test_x12_856_converts_with_origins_and_products():
    raw = interchange("S1", 5, [("856", asn_body("SH-1", "PO-1", [("3", "P-1", 4)], qualifier="VN"))])
    parsed = x12_feed.parse(raw)
    assert parsed.problems == []
    assert (parsed.sender_qualifier, parsed.sender_id, parsed.identity_keys) == ("ZZ", "S1", ["isa:ZZ:S1:5"])
    [doc] = parsed.documents
    assert (doc.number, doc.shipped_on, doc.expected_on) == ("SH-1", date(2026, 1, 15), date(2026, 1, 20))
    [line] = doc.lines
    assert (line.po_number, line.line_no, line.product, line.qty, line.unit) == (
        "PO-1",
        3,
        Product(supplier_part="P-1"),
        Decimal(4),
        "EA",
    )
    assert (line.origin.path, line.origin.segment, line.origin.group_control, line.origin.set_control) == (
        "GS 1/ST 0001/HL 3",
        "LIN",
        "1",
        "0001",
    )


def test_x12_products_and_ack_statuses():
    assert x12_feed.product_from_ids({"UP": "0123", "VN": "V-1", "BP": "SKU-1", "VP": "P-1"}) == Product(
        sku="SKU-1", supplier_part="P-1", other_ids={"UP": "0123", "VN": "V-1"}
    )
    raw = interchange(
        "S1",
        6,
        [
            (
                "855",
                [
                    "BAK*00*AC*PO-1*20260110",
                    "PO1*1*10*EA*2**VP*P-1",
                    "ACK*IR*0*EA",
                    "PO1*2*5*EA*3**VP*P-2",
                    "ACK*IQ*4*EA*067*20260201",
                    "PO1*3*5*EA*3**VP*P-3",
                    "SCH*5*EA***002*20260301",
                ],
            )
        ],
    )
    [doc] = x12_feed.parse(raw).documents
    assert [(line.line_no, line.status, line.code, line.qty, line.expected_date) for line in doc.lines] == [
        (1, "rejected", "IR", Decimal(0), None),
        (2, "changed", "IQ", Decimal(4), date(2026, 2, 1)),
        (3, "accepted", "IA", Decimal(5), date(2026, 3, 1)),
    ]


def test_x12_sets_we_do_not_take_and_purposes_we_do_not_apply_are_business_problems():
    raw = interchange("S1", 7, [("850", ["BEG*00*SA*PO-9**20260101", "PO1*1*1*EA*1**BP*A"])])
    [problem] = x12_feed.parse(raw).problems
    assert (problem.code, problem.kind, problem.element, problem.value) == (
        "unsupported_document",
        "business",
        "ST01",
        "850",
    )
    replace = [s.replace("BSN*00*", "BSN*05*") for s in asn_body("SH-2", "PO-1", [("1", "P", 1)])]
    [problem] = x12_feed.parse(interchange("S1", 8, [("856", replace)])).problems
    assert (problem.code, problem.element, problem.value, problem.set_control) == (
        "unsupported_purpose",
        "BSN01",
        "05",
        "0001",
    )


def test_problems_are_json_safe():
    problem = Problem(code="x", message="bad \x00 byte\nhere", value="\x89PNG\x1a")
    assert problem.as_dict() == {
        "code": "x",
        "message": "bad \\x00 byte\\x0ahere",
        "kind": "business",
        "segment": None,
        "element": None,
        "value": "\\x89PNG\\x1a",
        "path": None,
    }
    assert printable("é ok") == "é ok"
    assert len(printable("x" * 5000)) == 2001
