"""Real third-party EDI files from ../shared/edi-samples, applied end to end through the API.

The X12 toolkit's own tests prove every sample reads and maps; these prove the pipeline applies them:
each test first sets up the master data the sample names (the supplier's X12 id, SKUs, part number
mappings, purchase orders), posts the untouched file, and checks what it changed. Skipped when the
samples are not next to the repository (they are not copied into it: licences).
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from inventory import selectors as inventory_selectors
from scm.api.services import integration_user_create
from scm.events.store import read_stream
from scm.roles import OPS
from suppliers import services
from suppliers.models import InboundMessage, OutboundKind, OutboundMessage, SupplierInvoice
from tests.factories import ItemFactory, LocationFactory

SAMPLES = Path(settings.BASE_DIR).parent / "shared" / "edi-samples"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/edi-samples is not available"),
]


@pytest.fixture
def ops(unique) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {integration_user_create(username=f'ops-{unique}', role=OPS).token}")
    return client


def post_sample(client: APIClient, name: str) -> tuple[bytes, dict]:
    raw = (SAMPLES / name).read_bytes()
    response = client.post("/api/v1/inbound-messages/", data=raw, content_type="application/edi-x12")
    assert response.status_code == 202, response.content
    answer = response.json()
    assert answer["sha256"] == hashlib.sha256(raw).hexdigest()
    assert bytes(InboundMessage.objects.get(pk=answer["id"]).body) == raw
    return raw, answer


def supplier_with(unique: str, isa_id: str, parts: dict[str, str] | None = None, qualifier: str = "01"):
    supplier = services.supplier_upsert(
        code=f"SAMPLE-{unique}", name="Sample supplier", isa_id=isa_id, isa_qualifier=qualifier, formats=["x12"]
    )
    for part, sku in (parts or {}).items():
        ItemFactory(sku=sku)
        services.supplier_item_upsert(supplier=supplier.code, supplier_part=part, sku=sku)
    return supplier


def sent_order(supplier, number: str, destination: str, lines: list[tuple[str, int, str]]):
    order = services.purchase_order_create(
        number=number,
        supplier=supplier.code,
        destination=destination,
        lines=[{"sku": sku, "qty": qty, "unit_price": price} for sku, qty, price in lines],
    )
    services.purchase_order_send(po_id=order.pk)
    order.refresh_from_db()
    return order


def inbound(sku: str) -> dict[str, tuple[int, date]]:
    return {s.reference: (s.quantity, s.expected_date) for s in inventory_selectors.inbound_for(sku=sku)}


def test_856_bots_2_two_sets_of_one_shipment_become_inbound_supply(ops, unique):
    upc = {
        "8712345678906": f"U906-{unique}",
        "8712345678913": f"U913-{unique}",
        "8712345678920": f"U920-{unique}",
        "499762800308": f"U308-{unique}",
        "499762800094": f"U094-{unique}",
    }
    supplier = supplier_with(unique, "111111111", upc)
    dc = LocationFactory(code=f"DC-{unique}").code
    orders = {
        "ordernumber1": sent_order(
            supplier, "ordernumber1", dc, [(upc["8712345678906"], 36, "1"), (upc["8712345678913"], 36, "1")]
        ),
        "ordernumber2": sent_order(
            supplier,
            "ordernumber2",
            dc,
            [(upc["8712345678906"], 36, "1"), (upc["8712345678913"], 36, "1"), (upc["8712345678920"], 24, "1")],
        ),
        "ordernumber4": sent_order(supplier, "ordernumber4", dc, [(upc["8712345678906"], 36, "1")]),
        "ordernumber": sent_order(
            supplier, "ordernumber", dc, [(upc["499762800308"], 24, "1"), (upc["499762800094"], 36, "1")]
        ),
    }
    _, answer = post_sample(ops, "856-bots-2.edi")
    assert answer["status"] == "APPLIED", answer["errors"]
    expected = date(2006, 4, 5)  # shipped 2006-04-02 (DTM 011), no delivery date: + SUPPLIER_DEFAULT_TRANSIT_DAYS
    prefix = f"ASN-{supplier.code}-4167427123/"
    assert {sku: inbound(sku) for sku in upc.values()} == {
        upc["8712345678906"]: {
            f"{prefix}2": (36, expected),
            f"{prefix}4": (36, expected),
            f"{prefix}6": (36, expected),
        },
        upc["8712345678913"]: {f"{prefix}1": (24, expected), f"{prefix}3": (24, expected)},
        upc["8712345678920"]: {f"{prefix}5": (24, expected)},
        upc["499762800308"]: {f"{prefix}7": (24, expected)},
        upc["499762800094"]: {f"{prefix}8": (36, expected)},
    }
    notices = {
        number: [e.payload for e in read_stream(order.stream) if e.type == "ShipNoticeReceived"]
        for number, order in orders.items()
    }
    assert {number: [line["qty"] for p in payloads for line in p["lines"]] for number, payloads in notices.items()} == {
        "ordernumber1": [24, 36],
        "ordernumber2": [24, 36, 24],
        "ordernumber4": [36],
        "ordernumber": [24, 36],
    }
    detail = ops.get(f"/api/v1/inbound-messages/{answer['id']}/").json()
    assert detail["document_types"] == ["856", "856"]
    # ISA14 = 1 asks for a TA1: the interchange header was fine (TA1 A 000), then the 997 for its contents.
    assert [r["kind"] for r in detail["responses"]] == [OutboundKind.ACK_TA1, OutboundKind.ACK_997]
    ta1 = OutboundMessage.objects.get(inbound_message_id=answer["id"], kind=OutboundKind.ACK_TA1)
    assert bytes(ta1.body).split(b"~\n")[1:3] == [
        b"TA1*000000002*130123*0123*A*000",
        b"IEA*0*" + b"%09d" % int(ta1.isa_control),
    ]


def test_855_nodex12_1_accepts_and_rejects_lines_with_dates(ops, unique):
    isbn = {
        "9780446360265": f"B265-{unique}",
        "9780767928427": f"B427-{unique}",
        "9780099599531": f"B531-{unique}",
        "9780446360272": f"B272-{unique}",
    }
    supplier = supplier_with(unique, "1556150", isbn, qualifier="ZZ")
    dc = LocationFactory(code=f"DC-{unique}").code
    order = sent_order(
        supplier,
        "POTEST1112",
        dc,
        [
            (isbn["9780446360265"], 3, "4.5"),
            (isbn["9780767928427"], 2, "15.99"),
            (isbn["9780099599531"], 1, "1"),
            (isbn["9780446360272"], 2, "4.5"),
        ],
    )
    _, answer = post_sample(ops, "855-nodex12-1.edi")
    assert answer["status"] == "APPLIED", answer["errors"]
    order.refresh_from_db()
    assert order.status == "ACKNOWLEDGED"
    assert [
        (line.line_no, line.ack_status, line.ack_code, line.qty_confirmed, line.expected_date)
        for line in order.lines.all()
    ] == [
        (1, "accepted", "IA", 3, date(2004, 12, 31)),
        (2, "rejected", "IR", 0, None),
        (3, "rejected", "IR", 0, None),
        (4, "accepted", "IA", 2, date(2004, 12, 31)),
    ]
    assert inbound(isbn["9780446360265"]) == {"PO-POTEST1112/1": (3, date(2004, 12, 31))}
    assert inbound(isbn["9780767928427"]) == {}
    assert inbound(isbn["9780446360272"]) == {"PO-POTEST1112/4": (2, date(2004, 12, 31))}
    [acknowledged] = [e for e in read_stream(order.stream) if e.type == "PurchaseOrderAcknowledged"]
    assert acknowledged.payload["rejected"] is False


def test_810_bots_1_is_matched_three_ways(ops, unique):
    supplier = supplier_with(unique, "012345678")
    sku = ItemFactory(sku="0314281").sku
    dc = LocationFactory(code=f"DC-{unique}").code
    order = sent_order(supplier, "ordernumber", dc, [(sku, 170, "21.1")])
    services.purchase_order_receive(po_id=order.pk, lines={1: 170})
    _, answer = post_sample(ops, "810-bots-1.edi")
    assert answer["status"] == "APPLIED", answer["errors"]
    invoice = SupplierInvoice.objects.get(supplier=supplier, number="2619003")
    assert (invoice.invoice_date, invoice.total, invoice.match_status) == (
        date(2002, 2, 22),
        Decimal("12345.7900"),
        "mismatch",
    )
    assert invoice.match["lines"] == [
        {
            "line_no": 1,
            "sku": "0314281",
            "ordered_qty": 170,
            "po_unit_price": "21.1000",
            "received_qty": 170,
            "invoiced_qty": 170,
            "invoiced_qty_total": 170,
            "invoiced_unit_prices": ["21.1000"],
            "matched": True,
            "findings": [],
        }
    ]
    assert invoice.match["findings"] == ["invoice total 12345.79 differs from the lines' 3587.0000"]
    [invoiced] = [e for e in read_stream(order.stream) if e.type == "SupplierInvoiced"]
    assert invoiced.payload["match"]["status"] == "mismatch"


def test_846_x12parser_1_advises_supplier_inventory(ops, unique):
    supplier = supplier_with(unique, "322341109")
    ItemFactory(sku="46L5055")
    _, answer = post_sample(ops, "846-x12parser-1.edi")
    assert answer["status"] == "APPLIED", answer["errors"]
    [advised] = [e for e in read_stream(f"supplier-{supplier.code}") if e.type == "SupplierInventoryAdvised"]
    assert advised.payload["as_of"] == "2004-08-11"
    assert advised.payload["items"] == [
        {
            "sku": "46L5055",
            "supplier_part": None,
            "available": None,
            "quantities": {"34": 5250, "QH": 100, "QB": 50, "87": 75},
        }
    ]


def test_997_bots_1_is_recorded_even_without_a_matching_850(ops, unique):
    supplier = supplier_with(unique, "1234")
    _, answer = post_sample(ops, "997-bots-1.edi")
    assert answer["status"] == "APPLIED", answer["errors"]
    [functional] = [e for e in read_stream(f"supplier-{supplier.code}") if e.type == "FunctionalAckReceived"]
    assert (
        functional.payload["group_control"],
        functional.payload["accepted"],
        functional.payload["outbound_message_id"],
    ) == (
        "214",
        True,
        None,
    )
