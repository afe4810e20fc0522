"""Conformance against the real, third-party EDIFACT files in ../shared/edi-samples (read in place, never
copied): the DESADV (bots, D.96A EAN005, UNA, three messages) and the ORDERS (DFDL, D.03B, syntax 4 without
UNA). Every message reads, the values PROVENANCE.md names come out exactly, a CONTRL for each is readable,
and the DESADV applies end to end through the API. The module skips when the shared folder is absent."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from inventory import selectors as inventory_selectors
from scm.roles import OPS
from suppliers import services
from suppliers.adapters import edifact_feed
from suppliers.adapters.edifact import build_contrl, read_interchange
from suppliers.documents import Product
from suppliers.models import InboundMessage
from tests.api.helpers import client_for
from tests.factories import ItemFactory, LocationFactory

SAMPLES = Path(__file__).parents[2].parent / "shared" / "edi-samples"
if not SAMPLES.is_dir():
    pytest.skip(f"shared EDI samples not found at {SAMPLES}", allow_module_level=True)

DESADV = "DESADV-bots-1.edi"
ORDERS = "ORDERS-dfdl-1.edi"


def raw(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@pytest.mark.parametrize("name", [DESADV, ORDERS])
def test_every_edifact_sample_reads_with_its_counts_right_and_offsets_at_their_tags(name):
    data = raw(name)
    interchange = read_interchange(data)  # strict: every UNT/UNZ count and reference matches
    assert interchange.warnings == () and interchange.errors == ()
    for message in interchange.messages:
        assert message.unt.get(1) == str(len(message.segments))
        for segment in message.segments:
            assert data[segment.offset : segment.offset + 3] == segment.tag.encode()
    contrl = build_contrl(interchange, interchange_control=1, message_reference=1, created_at=datetime(2026, 1, 1))
    back = read_interchange(contrl)
    assert (back.header.recipient_id, back.messages[0].type) == (interchange.sender_id, "CONTRL")


def test_the_desadv_sample_maps_as_provenance_describes_it():
    interchange = read_interchange(raw(DESADV))
    assert (interchange.header.syntax_identifier, interchange.header.una, interchange.sender_id) == (
        "UNOC",
        True,
        "5555555555555",
    )
    assert [(m.reference, m.type, m.release, m.association) for m in interchange.messages] == [
        ("7", "DESADV", "96A", "EAN005"),
        ("8", "DESADV", "96A", "EAN005"),
        ("10", "DESADV", "96A", "EAN005"),
    ]
    parsed = edifact_feed.parse(raw(DESADV))
    assert parsed.problems == [] and parsed.document_types == ["DESADV"] * 3
    first, second, third = parsed.documents
    assert (first.number, first.notice_date, first.expected_on, first.shipped_on) == (
        "1923",
        date(2008, 9, 13),
        date(2008, 9, 13),
        None,
    )
    assert [(line.po_number, line.product.other_ids, line.qty, line.pack) for line in first.lines] == [
        ("ref1234", {"EN": "8717755680019"}, Decimal(48), None),
        ("ref1234", {"EN": "8717755620071"}, Decimal(192), None),
    ]
    assert (second.number, second.shipped_on, len(second.lines)) == ("DOCNUM", date(1999, 12, 31), 4)
    assert [line.product for line in second.lines] == [
        Product(sku="BYART", supplier_part="SUART", other_ids={"EN": "8712345678906"})
    ] * 4
    assert {(line.qty, line.pack) for line in second.lines} == {(Decimal(123), "354123450000000014")}
    assert [(line.product.other_ids, line.qty, line.pack) for line in third.lines] == [
        ({"EN": "8712345678906"}, Decimal(123), None)
    ]


def test_the_orders_sample_reads_syntax_4_repetitions_and_is_not_taken_from_suppliers():
    interchange = read_interchange(raw(ORDERS))
    assert (interchange.header.una, interchange.header.syntax_version, interchange.header.chars.repetition) == (
        False,
        "4",
        "*",
    )
    [message] = interchange.messages
    bgm = message.segments[1]
    assert (message.reference, message.type, message.release, bgm.get(2)) == ("SSDD1", "ORDERS", "03B", "BKOD99")
    com = next(s for s in message.segments if s.tag == "COM")
    assert com.repetitions(1) == (("str11", "str12"), ("str21", "str22"), ("str31", "str32"))
    lins = [s for s in message.segments if s.tag == "LIN"]
    assert [(s.get(3, 1), s.get(3, 2)) for s in lins] == [
        ("0764569104", "IB"),
        ("0764569090", "IB"),
        ("1861004656", "IB"),
        ("0596006756", "IB"),
    ]
    assert [s.get(1, 2) for s in message.segments if s.tag == "QTY"] == ["25", "25", "16", "10"]
    assert next(s for s in message.segments if s.tag == "CNT").components(1) == ("2", "4")
    parsed = edifact_feed.parse(raw(ORDERS))
    assert [(p.code, p.kind, p.value) for p in parsed.problems] == [("unsupported_document", "business", "ORDERS")]


@pytest.mark.django_db
def test_the_desadv_sample_applies_end_to_end_through_the_api(unique):
    """The untouched file, posted by ops: the supplier known by its GLN, the EANs mapped to our SKUs and the
    two purchase orders it names sent; every despatched line becomes inbound supply."""
    supplier = services.supplier_upsert(
        code=f"BOTS-{unique}",
        name="Bots sample supplier",
        edifact_id="5555555555555",
        isa_id=f"B{unique}",  # our purchase orders still go out as X12 850s
        formats=["edifact"],
    )
    dc = LocationFactory(code=f"DC-{unique}").code
    skus = {ean: ItemFactory(sku=f"E{ean[-4:]}-{unique}").sku for ean in ("8717755680019", "8717755620071")}
    byart = ItemFactory(sku=f"BY-{unique}").sku  # messages 8 and 10: supplier article SUART, EAN 8712345678906
    for part, sku in {**skus, "SUART": byart, "8712345678906": byart}.items():
        services.supplier_item_upsert(supplier=supplier.code, supplier_part=part, sku=sku)
    for number, lines in {"ref1234": [(skus["8717755680019"], 48), (skus["8717755620071"], 192)]}.items():
        order = services.purchase_order_create(
            number=number,
            supplier=supplier.code,
            destination=dc,
            lines=[{"sku": sku, "qty": qty, "unit_price": "1"} for sku, qty in lines],
        )
        services.purchase_order_send(po_id=order.pk)
    order = services.purchase_order_create(
        number="BYORDNUM", supplier=supplier.code, destination=dc, lines=[{"sku": byart, "qty": 615, "unit_price": "1"}]
    )
    services.purchase_order_send(po_id=order.pk)
    data = raw(DESADV)
    response = client_for(f"ops-{unique}", OPS).post(
        "/api/v1/inbound-messages/", data=data, content_type="application/edifact"
    )
    assert response.status_code == 202, response.content
    answer = response.json()
    assert (answer["status"], answer["errors"], answer["sha256"]) == ("APPLIED", [], hashlib.sha256(data).hexdigest())
    assert bytes(InboundMessage.objects.get(pk=answer["id"]).body) == data
    prefix = f"ASN-{supplier.code}-"
    supply = {
        s.reference: s.quantity
        for sku in [*skus.values(), byart]
        for s in inventory_selectors.inbound_for(sku=sku)
        if s.reference.startswith(prefix)
    }
    assert supply == {
        f"{prefix}1923/1": 48,
        f"{prefix}1923/2": 192,
        **{f"{prefix}DOCNUM/{n}": 123 for n in range(1, 6)},  # messages 8 and 10 are one despatch told in parts
    }
