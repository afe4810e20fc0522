"""The remaining supplier→us sample files of ../shared/edi-samples, applied end to end through the API.

Same approach as `test_inbound_edi_samples`: set up the master data each file names (supplier X12 id,
SKUs and part mappings, purchase orders), post the untouched file and check exactly what it changed.
The expected values below are read off the sample files by hand, not by the pipeline's own parser, so a
mapping mistake in the pipeline shows up as a difference here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from scm.events.store import read_stream
from suppliers import services
from suppliers.models import PurchaseOrderLine, ShipNotice, SupplierInvoice
from tests.factories import ItemFactory, LocationFactory
from tests.integration.test_inbound_edi_samples import (
    SAMPLES,
    inbound,
    ops,  # noqa: F401 - the API client fixture, shared with the first sample module
    post_sample,
    sent_order,
    supplier_with,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/edi-samples is not available"),
]

#: 856-bots-1, item levels in file order: (LIN01, UP id, BP id, SN1 quantity in EA, pack SSCC last digit).
ASN_15918861602 = [
    (4, "058824077500", "01113481", 11, 2),
    (7, "058824087325", "01113503", 10, 2),
    (12, "058824087684", "01113523", 8, 2),
    (15, "058824088766", "01113529", 4, 2),
    (1, "058824075414", "01104771", 3, 1),
    (5, "058824087028", "01113495", 9, 1),
    (2, "058824077029", "01113467", 5, 0),
    (3, "058824077142", "01113480", 5, 0),
    (6, "058824087264", "01113501", 5, 0),
    (8, "058824087387", "01113504", 9, 0),
    (9, "058824087509", "01113510", 6, 0),
    (10, "058824087561", "01113515", 11, 0),
    (11, "058824087660", "01113519", 3, 0),
    (13, "058824087844", "01113525", 3, 0),
    (14, "058824087905", "01113527", 6, 0),
    (16, "058824075285", "01113530", 5, 0),
    (17, "058824075308", "01113531", 4, 0),
    (18, "058824077807", "01113571", 12, 0),
    (19, "058824077821", "01113576", 17, 0),
    (20, "058824077845", "01113581", 17, 0),
    (21, "058824077869", "01113590", 10, 0),
    (22, "058824077951", "01113595", 11, 0),
    (23, "058824077975", "01113600", 5, 0),
    (24, "058824075018", "01113605", 2, 0),
    (25, "058824075032", "01113609", 7, 0),
    (26, "058824077036", "01113614", 8, 0),
    (27, "058824077173", "01113623", 5, 0),
    (28, "058824078057", "01113626", 7, 0),
    (29, "058824078071", "01113629", 8, 0),
    (30, "058824078118", "01113633", 8, 0),
    (31, "058824087035", "01113636", 8, 0),
    (32, "058824087097", "01113643", 4, 0),
    (33, "058824087417", "01113647", 6, 0),
    (34, "058824087431", "01113649", 7, 0),
    (35, "058824087455", "01113652", 6, 0),
    (36, "058824087479", "01113655", 11, 0),
    (37, "058824075520", "01116627", 6, 0),
    (38, "058824075483", "01125304", 2, 0),
    (39, "058824075513", "01135424", 15, 0),
    (40, "058824075506", "01138345", 3, 0),
    (41, "058824075476", "01149831", 2, 0),
    (42, "058824075452", "01150108", 4, 0),
    (43, "058824075445", "01150438", 8, 0),
    (44, "058824075469", "01150732", 8, 0),
    (45, "058824075551", "01162336", 11, 0),
    (46, "058824075544", "01162337", 5, 0),
    (47, "058824075407", "01162625", 6, 0),
    (48, "058824075490", "01166127", 5, 0),
    (49, "058824075650", "01286770", 5, 0),
    (50, "058824075667", "01307473", 7, 0),
    (51, "058824075643", "01309856", 11, 0),
    (52, "058824075735", "01317853", 15, 0),
    (53, "058824075698", "01326359", 10, 0),
    (54, "058824075681", "01326360", 7, 0),
    (55, "058824075674", "01326361", 7, 0),
    (56, "058824075728", "01326801", 8, 0),
    (57, "058824075704", "01327043", 8, 0),
    (58, "058824075711", "01333109", 8, 0),
]

#: 855-bots-1: per BAK03 purchase order, its DTM 067 (current scheduled delivery) and PO1 lines (UA id, cases).
ACKS_855 = {
    "194207": (
        date(2003, 5, 12),
        [
            ("001119432383", 102),
            ("003331116308", 90),
            ("003331116287", 204),
            ("001119438521", 28),
            ("003331101546", 30),
            ("003331102656", 42),
            ("003331116286", 204),
            ("003331122416", 51),
            ("003331102197", 50),
            ("003331111761", 51),
            ("001119432316", 110),
            ("003331102184", 110),
            ("003331111770", 102),
            ("003331111763", 102),
            ("003331135575", 30),
            ("003331108266", 51),
            ("001119436731", 102),
            ("003331101685", 102),
            ("001119437121", 204),
            ("003331102743", 66),
            ("003331101472", 66),
            ("003331103409", 144),
            ("001119439115", 98),
            ("001119432315", 110),
            ("003331134286", 51),
            ("003331101213", 100),
        ],
    ),
    "194208": (date(2003, 5, 20), [("003331113474", 22)]),
    "194721": (date(2003, 5, 20), [("003331113474", 22)]),
    "194722": (
        date(2003, 5, 20),
        [
            ("001119432316", 110),
            ("003331102743", 110),
            ("003331102183", 110),
            ("003331116510", 110),
            ("003331116507", 110),
            ("003331101539", 66),
            ("001119436731", 102),
            ("003331101211", 144),
            ("001119417550", 51),
            ("003331116302", 408),
            ("003331103021", 220),
            ("003331100505", 57),
            ("003331116499", 220),
            ("003331116305", 306),
            ("003331102184", 110),
            ("003331101414", 66),
            ("003331103171", 100),
        ],
    ),
    "194723": (
        date(2003, 5, 12),
        [
            ("003331101204", 144),
            ("003331111768", 204),
            ("003331103022", 110),
            ("003331116515", 220),
            ("003331111763", 102),
            ("003331134346", 102),
            ("003331101509", 110),
            ("003331101472", 110),
            ("003331134286", 102),
            ("001119432315", 110),
            ("003331105044", 144),
            ("003331135487", 204),
            ("003331116517", 110),
            ("003331135575", 45),
            ("003331116308", 90),
            ("003331135578", 30),
            ("003331116295", 51),
            ("003331101546", 100),
            ("003331100643", 50),
            ("003331116286", 204),
            ("003331116289", 204),
            ("003331101506", 110),
        ],
    ),
    "194724": (date(2003, 5, 12), [("003331113474", 22)]),
}


def test_856_bots_1_one_order_in_three_packs_becomes_inbound_supply(ops, unique):  # noqa: F811
    """LIN carries UP (the supplier's UPC) and BP (buyer's part). BP is read as our SKU, and these BP
    values are not SKUs of ours, so each item resolves through its UP mapped by a supplier item."""
    sku = {up: f"{bp}-{unique}" for _, up, bp, _, _ in ASN_15918861602}
    supplier = supplier_with(unique, "111111111", sku)
    dc = LocationFactory(code=f"DC-{unique}").code
    by_line_no = sorted(ASN_15918861602)
    # PO lines in LIN01 order, so PO line numbers are the LIN01 numbers; each ordered 2 more than shipped.
    order = sent_order(supplier, "ordernumber", dc, [(sku[up], qty + 2, "1.5") for _, up, _, qty, _ in by_line_no])
    assert [line.line_no for line in order.lines.order_by("line_no")] == [n for n, *_ in by_line_no]

    _, answer = post_sample(ops, "856-bots-1.edi")

    assert answer["status"] == "APPLIED", answer["errors"]
    expected = date(2004, 8, 5)  # DTM 017 (estimated delivery) of the shipment level
    prefix = f"ASN-{supplier.code}-15918861602/"
    assert {sku[up]: inbound(sku[up]) for _, up, *_ in ASN_15918861602} == {
        sku[up]: {f"{prefix}{n}": (qty, expected)} for n, (_, up, _, qty, _) in enumerate(ASN_15918861602, 1)
    }
    assert sum(qty for *_, qty, _ in ASN_15918861602) == 427  # the SN102 total of the file
    notice = ShipNotice.objects.get(supplier=supplier, number="15918861602")
    assert (notice.shipped_on, notice.expected_on, notice.lines.count()) == (None, expected, 58)
    assert [(line.line_no, line.qty_shipped) for line in order.lines.order_by("line_no")] == [
        (n, qty) for n, _, _, qty, _ in by_line_no
    ]

    [received] = [e.payload for e in read_stream(order.stream) if e.type == "ShipNoticeReceived"]
    assert (received["ship_notice"], received["purchase_order"], received["shipped_on"], received["expected_on"]) == (
        "15918861602",
        "ordernumber",
        None,
        "2004-08-05",
    )
    assert received["lines"] == [
        {
            "asn_line_no": n,
            "po_line_no": lin,
            "sku": sku[up],
            "qty": qty,
            "inbound_reference": f"{prefix}{n}",
            "moved_from_po_line": 0,  # the PO was never acknowledged: no PO supply to take over
            "pack": f"000012345678123456789{pack}",
            "expected_on": "2004-08-05",
        }
        for n, (lin, up, _, qty, pack) in enumerate(ASN_15918861602, 1)
    ]


def test_855_bots_1_six_acknowledgements_in_one_group(ops, unique):  # noqa: F811
    """BAK02 AP with no ACK segments: every PO1 line is accepted as sent. Lines are keyed by UA (no
    PO101) and counted in cases (CA), so a supplier item per UA gives SKU and pack size."""
    parts = sorted({ua for _, lines in ACKS_855.values() for ua, _ in lines})
    assert len(parts) == 54
    # A case of a "001119..." item holds 6, of a "003331..." item 12.
    pack = {ua: 6 if ua.startswith("001119") else 12 for ua in parts}
    sku = {ua: f"UA{ua}-{unique}" for ua in parts}
    supplier = supplier_with(unique, "9255550000", qualifier="ZZ")
    for ua in parts:
        ItemFactory(sku=sku[ua])
        services.supplier_item_upsert(supplier=supplier.code, supplier_part=ua, sku=sku[ua], pack_size=pack[ua])
    dc = LocationFactory(code=f"DC-{unique}").code
    # 194208 was ordered as 25 cases; the acknowledgement confirms 22.
    ordered_cases = {("194208", "003331113474"): 25}
    orders = {
        number: sent_order(
            supplier,
            number,
            dc,
            [(sku[ua], ordered_cases.get((number, ua), cases) * pack[ua], "2.25") for ua, cases in lines],
        )
        for number, (_, lines) in ACKS_855.items()
    }

    raw, answer = post_sample(ops, "855-bots-1.edi")

    assert raw.endswith(b"IEA*1*000002953~\r\n \r\n")  # the stray line after IEA is tolerated
    assert answer["status"] == "APPLIED", answer["errors"]
    detail = ops.get(f"/api/v1/inbound-messages/{answer['id']}/").json()
    assert detail["document_types"] == ["855"] * 6
    for number, (when, lines) in ACKS_855.items():
        order = orders[number]
        order.refresh_from_db()
        assert order.status == "ACKNOWLEDGED"
        changed = ordered_cases.get((number, lines[0][0])) is not None
        assert [
            (line.line_no, line.sku, line.ack_status, line.ack_code, line.qty_confirmed, line.expected_date)
            for line in PurchaseOrderLine.objects.filter(purchase_order=order).order_by("line_no")
        ] == [
            (n, sku[ua], "changed" if changed else "accepted", "IA", cases * pack[ua], when)
            for n, (ua, cases) in enumerate(lines, 1)
        ]
        [acknowledged] = [e.payload for e in read_stream(order.stream) if e.type == "PurchaseOrderAcknowledged"]
        assert (acknowledged["number"], acknowledged["rejected"], acknowledged["ack_date"]) == (number, False, None)
        assert [
            (line["line_no"], line["status"], line["qty_confirmed"], line["expected_date"], line["inbound_expected"])
            for line in acknowledged["lines"]
        ] == [
            (n, "changed" if changed else "accepted", cases * pack[ua], when.isoformat(), cases * pack[ua])
            for n, (ua, cases) in enumerate(lines, 1)
        ]
    # The inbound supply of a UA shared by several orders: one supply per PO line, each on its own date.
    assert inbound(sku["003331113474"]) == {
        "PO-194208/1": (264, date(2003, 5, 20)),
        "PO-194721/1": (264, date(2003, 5, 20)),
        "PO-194724/1": (264, date(2003, 5, 12)),
    }
    assert inbound(sku["001119436731"]) == {
        "PO-194207/17": (612, date(2003, 5, 12)),
        "PO-194722/7": (612, date(2003, 5, 20)),
    }
    expected_supply = {}
    for number, (when, lines) in ACKS_855.items():
        for n, (ua, cases) in enumerate(lines, 1):
            expected_supply.setdefault(sku[ua], {})[f"PO-{number}/{n}"] = (cases * pack[ua], when)
    assert {s: inbound(s) for s in sku.values()} == expected_supply


def test_810_edinet_1_ariba_invoice_is_matched_three_ways(ops, unique):  # noqa: F811
    """VP ids are the supplier's part numbers; BIG04 names the PO. The TDS (365.96) is the lines (359.96)
    plus freight: two line-level SAC charges of 3.00, restated by a summary SAC of 6.00 after TDS."""
    supplier = supplier_with(
        unique, "ABCMUSICSUPPLY", {"ID001": f"CORD1-{unique}", "ID002": f"CORD2-{unique}"}, qualifier="ZZ"
    )
    dc = LocationFactory(code=f"DC-{unique}").code
    order = sent_order(supplier, "DO091003", dc, [(f"CORD1-{unique}", 2, "99.99"), (f"CORD2-{unique}", 2, "79.99")])
    services.purchase_order_receive(po_id=order.pk, lines={1: 2, 2: 2})

    _, answer = post_sample(ops, "810-edinet-1.edi")

    assert answer["status"] == "APPLIED", answer["errors"]
    invoice = SupplierInvoice.objects.get(supplier=supplier, number="DO091003TESTINV01")
    assert (invoice.purchase_order_id, invoice.invoice_date, invoice.total, invoice.match_status) == (
        order.pk,
        date(2003, 3, 10),
        Decimal("365.9600"),
        "matched",
    )
    assert invoice.match == {
        "status": "matched",
        "lines": [
            {
                "line_no": line_no,
                "sku": sku,
                "ordered_qty": 2,
                "po_unit_price": price,
                "received_qty": 2,
                "invoiced_qty": 2,
                "invoiced_qty_total": 2,
                "invoiced_unit_prices": [price],
                "matched": True,
                "findings": [],
            }
            for line_no, sku, price in ((1, f"CORD1-{unique}", "99.9900"), (2, f"CORD2-{unique}", "79.9900"))
        ],
        "unmatched": [],
        "findings": [],
        "charges": "6.0000",
    }
    [invoiced] = [e.payload for e in read_stream(order.stream) if e.type == "SupplierInvoiced"]
    assert (invoiced["invoice_number"], invoiced["invoice_date"], invoiced["currency"], invoiced["total"]) == (
        "DO091003TESTINV01",
        "2003-03-10",
        "USD",
        "365.96",
    )
    assert invoiced["match"] == invoice.match
    assert [(line.qty_invoiced, line.invoiced_amount) for line in order.lines.order_by("line_no")] == [
        (2, Decimal("199.9800")),
        (2, Decimal("159.9800")),
    ]
