"""EDIFACT mappers: DESADV, ORDRSP and INVOIC into the canonical documents the X12 path produces, with exact
values, and every value they cannot read refused naming segment, element and value."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from suppliers.adapters import edifact_feed
from suppliers.adapters.edifact import EdifactError, map_message, read_interchange
from suppliers.documents import InvoiceDoc, Origin, PoAckDoc, Product, ShipNoticeDoc
from tests.edifact import desadv_body, interchange, invoic_body, ordrsp_body

ORIGIN = Origin(path="UNH 1", segment="BGM")


def mapped(kind: str, body: list[str], **kwargs):
    [message] = read_interchange(interchange("5412345000013", "1", [(kind, body)], **kwargs)).messages
    return map_message(message, ORIGIN)


def refused(kind: str, body: list[str], **kwargs) -> EdifactError:
    with pytest.raises(EdifactError) as caught:
        mapped(kind, body, **kwargs)
    return caught.value


def test_desadv_maps_to_the_ship_notice_an_856_gives():
    body = desadv_body("DN-1", "PO-1", [("1", "P-1", "4"), ("2", "P-2", "6")])
    body.insert(body.index("LIN+2") + 2, "RFF+ON:PO-2:7")  # line 2 belongs to line 7 of another order
    notice, problems = mapped("DESADV", body)
    assert problems == []
    assert isinstance(notice, ShipNoticeDoc)
    assert (notice.number, notice.notice_date, notice.shipped_on, notice.expected_on, notice.carrier) == (
        "DN-1",
        date(2026, 1, 15),
        date(2026, 1, 15),
        date(2026, 1, 20),
        "DHLX",
    )
    assert [
        (line.po_number, line.line_no, line.product, line.qty, line.unit, line.pack, line.origin.path)
        for line in notice.lines
    ] == [
        ("PO-1", 1, Product(supplier_part="P-1"), Decimal(4), "EA", "354123450000000014", "UNH 1/LIN 1 #15"),
        ("PO-2", 7, Product(supplier_part="P-2"), Decimal(6), "EA", "354123450000000014", "UNH 1/LIN 2 #18"),
    ]


def test_desadv_item_ids_use_the_x12_qualifiers_and_batch_numbers_are_no_product():
    body = desadv_body("DN-1", "PO-1", [("1", "SUART", "4")])
    lin = body.index("LIN+1")
    body[lin] = "LIN+1++8712345678906:EN"
    body[lin + 1 : lin + 1] = ["PIA+1+BYART:IN", "PIA+1+B-77:NB+S-1:SN"]
    notice, _ = mapped("DESADV", body)
    assert notice.lines[0].product == Product(sku="BYART", supplier_part="SUART", other_ids={"EN": "8712345678906"})


@pytest.mark.parametrize(
    ("change", "message", "element", "reason"),
    [
        (
            ("QTY+12:4:PCE", "QTY+12:4,5:PCE"),
            "QTY01-2 '4,5' uses ',' as decimal mark; this interchange declares '.' (UNA3)",
            "QTY01-2",
            "decimal_mark",
        ),
        (("QTY+12:4:PCE", "QTY+12:ten:PCE"), "QTY01-2 'ten' is not a number", "QTY01-2", "not_a_number"),
        (
            ("QTY+12:4:PCE", "QTY+12:.5:PCE"),
            "QTY01-2 '.5' has no digit before the decimal mark",
            "QTY01-2",
            "decimal_mark",
        ),
        (
            ("QTY+12:4:PCE", "QTY+12:" + "9" * 5000 + ":PCE"),
            "QTY01-2 is 5000 characters long; a number has at most 35",
            "QTY01-2",
            "too_long",
        ),
        (
            ("QTY+12:4:PCE", "QTY+12:1234567890:PCE"),
            "QTY01-2 '1234567890' is too large: we read at most 9 digits before the decimal mark",
            "QTY01-2",
            "too_long",
        ),
        (
            ("QTY+12:4:PCE", "QTY+12::PCE"),
            "QTY01-2 is missing; expected the quantity despatched (6060)",
            "QTY01-2",
            "missing",
        ),
        (
            ("DTM+11:20260115:102", "DTM+11:20261315:102"),
            "DTM01-2 '20261315' is not a date in format 102 (CCYYMMDD)",
            "DTM01-2",
            "invalid_date",
        ),
        (
            ("DTM+11:20260115:102", "DTM+11:15.01.2026:999"),
            "DTM01-3 '999' is not a date format we read (101, 102, 201, 203, 204, 718, 719)",
            "DTM01-3",
            "invalid_value",
        ),
        (
            ("DTM+11:20260115:102", "DTM+11:150126"),
            "DTM01-3 is missing and '150126' is no CCYYMMDD date; expected a date format code (2379)",
            "DTM01-3",
            "missing",
        ),
        (
            ("PIA+5+P-1:SA", "PIA+5+P-1"),
            "PIA02-2 is missing; PIA02-1 'P-1' needs an item type (7143: EN, SA, IN, ...)",
            "PIA02-2",
            "missing",
        ),
        (
            ("BGM+351+DN-1+9", "BGM+351++9"),
            "BGM02 is missing; expected the despatch advice number (1004)",
            "BGM02",
            "missing",
        ),
    ],
)
def test_desadv_values_that_do_not_read_are_named(change, message, element, reason):
    body = [
        change[1] if segment == change[0] else segment for segment in desadv_body("DN-1", "PO-1", [("1", "P-1", "4")])
    ]
    error = refused("DESADV", body)
    assert (str(error), error.element, error.reason, error.message_ref) == (message, element, reason, "1")
    assert error.ordinal == next(i for i, s in enumerate(body, 2) if s == change[1])


def test_desadv_structure_faults():
    body = desadv_body("DN-1", "PO-1", [("1", "P-1", "4")])
    no_qty = [s for s in body if not s.startswith("QTY")]
    error = refused("DESADV", no_qty)
    assert (str(error), error.segment, error.reason) == (
        f"LIN 1 at byte {error.position} has no QTY+12 (despatch quantity)",
        "QTY",
        "missing",
    )
    no_id = [s for s in body if not s.startswith("PIA")]
    assert str(refused("DESADV", no_id)) == "LIN 1 names no product: LIN03 and PIA carry no item id"
    two = [*body[:-1], "QTY+12:1:PCE", body[-1]]
    assert str(refused("DESADV", two)) == "a second QTY+12 for LIN 1"
    assert str(refused("DESADV", [s for s in body if not s.startswith("BGM")])) == (
        "the DESADV has no BGM segment; expected the despatch advice number"
    )


def test_a_cancelled_desadv_is_a_business_refusal_not_a_syntax_error():
    body = desadv_body("DN-1", "PO-1", [("1", "P-1", "4")])
    body[0] = "BGM+351+DN-1+1"
    notice, [problem] = mapped("DESADV", body)
    assert notice is None
    assert (problem.code, problem.kind, problem.element, problem.value) == (
        "unsupported_purpose",
        "business",
        "BGM03",
        "1",
    )


def test_ordrsp_maps_to_the_acknowledgement_an_855_gives():
    ack, problems = mapped(
        "ORDRSP",
        ordrsp_body("R-1", "PO-1", [("1", "5", "P-1", "10"), ("2", "6", "P-2", "8"), ("3", "7", "P-3", "0")]),
    )
    assert problems == [] and isinstance(ack, PoAckDoc)
    assert (ack.po_number, ack.rejected, ack.ack_date) == ("PO-1", False, date(2026, 1, 16))
    assert [
        (line.line_no, line.status, line.code, line.qty, line.unit, line.unit_price, line.expected_date)
        for line in ack.lines
    ] == [
        (1, "accepted", "IA", Decimal(10), "EA", Decimal("2.5"), date(2026, 1, 25)),
        (2, "changed", "IC", Decimal(8), "EA", Decimal("2.5"), date(2026, 1, 25)),
        (3, "rejected", "IR", Decimal(0), "EA", Decimal("2.5"), date(2026, 1, 25)),
    ]
    rejected, _ = mapped("ORDRSP", ordrsp_body("R-2", "PO-1", [("1", "", "P-1", "0")], function="27"))
    assert (rejected.rejected, rejected.lines[0].status, rejected.lines[0].code) == (True, "rejected", "RJ")
    error = refused("ORDRSP", [s for s in ordrsp_body("R-3", "PO-1", []) if not s.startswith("RFF")])
    assert (str(error), error.segment) == (
        "the ORDRSP names no purchase order: its header has no RFF+ON with the order number",
        "RFF",
    )


def test_invoic_maps_to_the_invoice_an_810_gives():
    invoice, problems = mapped(
        "INVOIC",
        invoic_body("I-1", "PO-1", [("1", "P-1", "10", "2.50")], total="29.75", lines_total="25.00", tax="4.75"),
    )
    assert problems == [] and isinstance(invoice, InvoiceDoc)
    assert (invoice.number, invoice.invoice_date, invoice.po_number, invoice.currency, invoice.total) == (
        "I-1",
        date(2026, 1, 20),
        "PO-1",
        "EUR",
        Decimal("29.75"),
    )
    assert invoice.charges == Decimal("4.75")  # what the total adds to the stated line total
    [line] = invoice.lines
    assert (line.line_no, line.product, line.qty, line.unit, line.unit_price) == (
        1,
        Product(supplier_part="P-1"),
        Decimal(10),
        "EA",
        Decimal("2.50"),
    )
    body = invoic_body("I-2", "PO-1", [("1", "P-1", "10", "2.50")], total="27.00", tax="2.00")
    body[body.index("UNS+S") : body.index("UNS+S")] = ["ALC+C++++FC", "MOA+23:1.50", "ALC+A++++DI", "MOA+204:1.50"]
    with_charges, _ = mapped("INVOIC", body)
    assert with_charges.charges == Decimal("2.00")  # + 1.50 freight − 1.50 discount + 2.00 tax


def test_a_credit_note_and_a_missing_invoice_date():
    body = invoic_body("C-1", "PO-1", [("1", "P-1", "1", "1")], total="1")
    body[0] = "BGM+381+C-1+9"
    invoice, [problem] = mapped("INVOIC", body)
    assert (invoice, problem.code, problem.element, problem.value) == (None, "unsupported_document", "BGM01-1", "381")
    no_date = [s for s in invoic_body("I-3", "PO-1", [], total="0") if not s.startswith("DTM")]
    assert str(refused("INVOIC", no_date)) == "the INVOIC has no DTM+137 (document date) or DTM+3 (invoice date)"


def test_the_feed_names_message_paths_and_reads_custom_una_decimals():
    raw = interchange(
        "5412345000013", "9", [("DESADV", desadv_body("DN-1", "PO-1", [("1", "P-1", "4.5")]))], una=":+,? '"
    )
    parsed = edifact_feed.parse(raw)
    assert parsed.problems == []
    assert (parsed.sender_id, parsed.interchange_control, parsed.identity_keys) == (
        "5412345000013",
        "9",
        ["unb:14:5412345000013:9"],
    )
    assert parsed.documents[0].lines[0].qty == Decimal("4.5")
    broken = edifact_feed.parse(raw.replace(b"4,5", b"4.5"))
    assert [(p.code, p.element, p.path) for p in broken.problems] == [
        ("edifact_decimal_mark", "QTY01-2", "UNH 1/QTY #17")
    ]
