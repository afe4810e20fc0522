"""Conformance against real, third-party EDI files in ../shared/edi-samples (read in place, never copied).

Every X12 sample must read without error, every transaction set must map to its canonical dataclass,
and the values the samples' PROVENANCE.md names must come out exactly. EDIFACT samples must be
recognised as not X12. The module skips when the shared folder is absent.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest

from suppliers.adapters.x12 import (
    X12Error,
    build_997,
    map_810,
    map_846,
    map_855,
    map_856,
    map_997,
    read_interchange,
)
from tests.x12_readback import MAPPERS, map_850

SAMPLES = Path(__file__).parents[2].parent / "shared" / "edi-samples"
if not SAMPLES.is_dir():
    pytest.skip(f"shared EDI samples not found at {SAMPLES}", allow_module_level=True)

ALL_FILES = sorted(path.name for path in SAMPLES.glob("*.edi"))
EDIFACT_FILES = [name for name in ALL_FILES if (SAMPLES / name).read_bytes().lstrip()[:3] in (b"UNA", b"UNB")]
X12_FILES = [name for name in ALL_FILES if name not in EDIFACT_FILES]
STAMP = datetime(2026, 1, 15, 12, 0)

#: What the reader tolerated in each sample, exactly (everything else reads without a warning).
EXPECTED_WARNINGS = {
    "810-edinet-1.edi": ["the ISA header is 81 bytes, not the fixed 106; it was read by its element separators"],
    "850-edinet-1.edi": ["IEA02 '000000001' does not match ISA13 '000000055'; ISA13 identifies the interchange"],
    "850-edinet-2.edi": [
        "the ISA header is 102 bytes, not the fixed 106; it was read by its element separators",
        "IEA02 '000000001' does not match ISA13 '000000055'; ISA13 identifies the interchange",
    ],
}


def raw(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sets(name: str):
    return list(read_interchange(raw(name)).transaction_sets())


def test_the_shared_folder_has_the_samples_this_module_names():
    named = {
        "810-bots-1.edi",
        "810-edinet-1.edi",
        "846-x12parser-1.edi",
        "850-edinet-1.edi",
        "850-edinet-2.edi",
        "850-nodex12-1.edi",
        "850-nodex12-2.edi",
        "855-bots-1.edi",
        "855-nodex12-1.edi",
        "856-bots-1.edi",
        "856-bots-2.edi",
        "997-bots-1.edi",
    }
    assert named <= set(X12_FILES)
    assert {"DESADV-bots-1.edi", "ORDERS-dfdl-1.edi"} <= set(EDIFACT_FILES)


@pytest.mark.parametrize("name", X12_FILES)
def test_every_x12_sample_reads_and_maps(name):
    data = raw(name)
    interchange = read_interchange(data)

    assert [str(w) for w in interchange.warnings] == EXPECTED_WARNINGS.get(name, [])
    assert interchange.errors == ()
    assert int(interchange.iea.get(1)) == len(interchange.groups)
    for group in interchange.groups:
        assert group.declared_set_count == len(group.transaction_sets)
        for tset in group.transaction_sets:
            assert int(tset.se.get(1)) == len(tset.segments)
            assert [s.ordinal for s in tset.segments] == list(range(1, len(tset.segments) + 1))
            for segment in tset.segments:
                assert data[segment.offset : segment.offset + len(segment.tag)] == segment.tag.encode()
            assert MAPPERS[tset.code](tset).control_number == tset.control_number


@pytest.mark.parametrize("name", X12_FILES)
def test_every_x12_sample_gets_a_997_that_accepts_each_set(name):
    interchange = read_interchange(raw(name))
    reply = read_interchange(build_997(interchange, True, interchange_control=1, group_control=1, created_at=STAMP))
    acks = [map_997(tset) for tset in reply.transaction_sets("997")]
    assert (reply.sender_id, reply.receiver_id) == (interchange.receiver_id, interchange.sender_id)
    assert [(a.functional_id, a.group_control, a.status) for a in acks] == [
        (g.functional_id, g.control_number, "A") for g in interchange.groups
    ]
    assert [[(s.code, s.control_number, s.status) for s in a.sets] for a in acks] == [
        [(t.code, t.control_number, "A") for t in g.transaction_sets] for g in interchange.groups
    ]


@pytest.mark.parametrize("name", EDIFACT_FILES)
def test_edifact_samples_are_recognised_as_not_x12(name):
    with pytest.raises(X12Error) as caught:
        read_interchange(raw(name))
    header = raw(name)[:3].decode()
    assert str(caught.value) == f"not an X12 interchange: it starts with {header}, an EDIFACT header"
    assert caught.value.reason == "not_x12"


# Values named in PROVENANCE.md -----------------------------------------------------------------


def test_856_bots_1_one_order_three_packs_fifty_eight_items():
    data = raw("856-bots-1.edi")
    interchange = read_interchange(data)
    assert interchange.delimiters.repetition == "^"
    (tset,) = interchange.transaction_sets()
    notice = map_856(tset)
    assert (notice.shipment_id, notice.notice_date, notice.notice_time) == ("15918861602", date(2004, 8, 5), time(0, 0))
    assert notice.expected_delivery_on == date(2004, 8, 5) and notice.shipped_on is None
    assert [(p.entity, p.id_qualifier, p.id) for p in notice.parties] == [
        ("ST", "92", "DESTINATION1"),
        ("SH", "92", "XXXXXX"),
    ]
    assert [(o.hl_id, o.po_number, o.po_date) for o in notice.orders] == [("2", "ordernumber", date(2004, 8, 8))]
    assert [(p.hl_id, p.sscc) for p in notice.packs] == [
        ("3", "0000123456781234567892"),
        ("8", "0000123456781234567891"),
        ("11", "0000123456781234567890"),
    ]
    assert len(notice.items) == 58 and notice.line_count == 58
    assert [sum(1 for item in notice.items if item.pack_hl_id == pack.hl_id) for pack in notice.packs] == [4, 2, 52]
    first, last = notice.items[0], notice.items[-1]
    assert (first.hl_id, first.line_number, first.product_ids, first.quantity, first.unit) == (
        "4",
        "4",
        {"UP": "058824077500", "BP": "01113481"},
        Decimal(11),
        "EA",
    )
    assert (last.hl_id, last.line_number, last.product_ids, last.quantity) == (
        "63",
        "58",
        {"UP": "058824075711", "BP": "01333109"},
        Decimal(8),
    )
    assert {item.po_number for item in notice.items} == {"ordernumber"}
    sn1_total = sum(int(q) for q in re.findall(rb"SN1\*\*(\d+)\*EA", data))
    assert sum(item.quantity for item in notice.items) == sn1_total == 427


def test_856_bots_2_two_sets_with_orders_packs_and_ordered_quantities():
    first, second = (map_856(tset) for tset in sets("856-bots-2.edi"))
    assert (first.control_number, first.shipment_id, first.shipped_on) == ("0060", "4167427123", date(2006, 4, 2))
    assert (first.carrier_qualifier, first.carrier_code) == ("2", "SCAC")
    assert first.bill_of_lading == "bill of lading number"
    assert first.references == {"BM": "bill of lading number", "CN": "carrierreferencenumber"}
    assert [(p.entity, p.name) for p in first.parties] == [
        ("SE", "UNIVERSAL WIDGETS"),
        ("ST", "JIT MANUFACTURING"),
        ("AK", "JIT MANUFACTURING"),
        ("BT", "JIT MANUFACTURING"),
    ]
    assert first.parties[1].address == ("BUILDING 3B", "2001 ENTERPRISE PARK") and first.parties[1].country == "MEX"
    assert [o.po_number for o in first.orders] == ["ordernumber1", "ordernumber2", "ordernumber4"]
    assert len(first.packs) == 5 and len(first.items) == 6
    assert [(i.po_number, i.pack_hl_id, i.quantity, i.quantity_ordered, i.ordered_unit) for i in first.items] == [
        ("ordernumber1", "3", Decimal(24), Decimal(36), "EA"),
        ("ordernumber1", "5", Decimal(36), Decimal(36), "EA"),
        ("ordernumber2", "8", Decimal(24), Decimal(36), "EA"),
        ("ordernumber2", "10", Decimal(36), Decimal(36), "EA"),
        ("ordernumber2", "10", Decimal(24), Decimal(24), "EA"),
        ("ordernumber4", "14", Decimal(36), Decimal(36), "EA"),
    ]
    assert first.items[0].product_ids == {"UP": "8712345678913", "VN": "suart", "BP": "byart"}
    assert first.items[0].description == "description"
    assert (second.control_number, len(second.orders), len(second.packs), len(second.items)) == ("0061", 1, 2, 2)
    assert [(i.product_ids, i.quantity) for i in second.items] == [
        ({"UP": "499762800308"}, Decimal(24)),
        ({"UP": "499762800094"}, Decimal(36)),
    ]


def test_855_bots_1_six_acknowledgements_in_one_group():
    interchange = read_interchange(raw("855-bots-1.edi"))
    (group,) = interchange.groups
    assert (group.functional_id, group.control_number, group.gs.get(7)) == ("PR", "811", "T")
    acks = [map_855(tset) for tset in group.transaction_sets]
    assert len(acks) == 6
    assert [(a.po_number, len(a.lines), a.line_count) for a in acks] == [
        ("194207", 26, 26),
        ("194208", 1, 1),
        ("194721", 1, 1),
        ("194722", 17, 17),
        ("194723", 22, 22),
        ("194724", 1, 1),
    ]
    assert {a.ack_type for a in acks} == {"AP"} and {a.po_date for a in acks} == {date(2003, 5, 7)}
    assert acks[0].dates == {"009": date(2003, 5, 7), "067": date(2003, 5, 12), "068": date(2003, 5, 9)}
    line = acks[0].lines[0]
    assert (line.quantity, line.unit, line.product_ids, line.acks) == (Decimal(102), "CA", {"UA": "001119432383"}, ())
    assert {line.unit for a in acks for line in a.lines} == {"CA"}


def test_855_nodex12_1_line_statuses_and_schedules():
    (ack,) = (map_855(tset) for tset in sets("855-nodex12-1.edi"))
    assert (ack.ack_type, ack.po_number, ack.po_date, ack.ack_date) == (
        "AD",
        "POTEST1112",
        date(2020, 10, 15),
        date(2020, 10, 15),
    )
    assert [(line.product_ids["EN"], line.quantity, line.status) for line in ack.lines] == [
        ("9780446360265", Decimal(3), "IA"),
        ("9780767928427", Decimal(2), "IR"),
        ("9780099599531", Decimal(1), "IR"),
        ("9780446360272", Decimal(2), "IA"),
    ]
    assert [line.acks[0].quantity for line in ack.lines] == [Decimal(3), Decimal(0), Decimal(0), Decimal(2)]
    assert [(s.quantity, s.date_qualifier, s.date) for line in ack.lines for s in line.schedules] == [
        (Decimal(3), "080", date(2004, 12, 31)),
        (Decimal(0), "080", date(2007, 10, 9)),
        (Decimal(0), "080", date(2004, 12, 31)),
        (Decimal(2), "080", date(2004, 12, 31)),
    ]
    assert ack.lines[0].description == "DIC WEBSTERS NEW WORLD" and ack.line_count == 4


def test_810_bots_1_invoice():
    (invoice,) = (map_810(tset) for tset in sets("810-bots-1.edi"))
    assert (invoice.invoice_number, invoice.invoice_date, invoice.po_number, invoice.transaction_type) == (
        "2619003",
        date(2002, 2, 22),
        "ordernumber",
        "DR",
    )
    assert [(line.quantity, line.unit, line.unit_price, line.product_ids) for line in invoice.lines] == [
        (Decimal(q), "EA", Decimal("21.1"), {"BP": "0314281"}) for q in (26, 27, 28, 29, 30, 30)
    ]
    assert invoice.total_amount == Decimal("12345.79") and invoice.line_count == 6


def test_810_edinet_1_unpadded_isa_and_tab_indentation():
    interchange = read_interchange(raw("810-edinet-1.edi"))
    assert (interchange.sender_id, interchange.receiver_id) == ("ABCMUSICSUPPLY", "ARIBAEDI")
    (invoice,) = (map_810(tset) for tset in interchange.transaction_sets())
    assert (invoice.invoice_number, invoice.invoice_date, invoice.po_number, invoice.po_date) == (
        "DO091003TESTINV01",
        date(2003, 3, 10),
        "DO091003",
        date(2003, 9, 10),
    )
    assert [(line.line_number, line.quantity, line.unit_price, line.product_ids) for line in invoice.lines] == [
        ("1", Decimal(2), Decimal("99.99"), {"VP": "ID001"}),
        ("2", Decimal(2), Decimal("79.99"), {"VP": "ID002"}),
    ]
    assert invoice.total_amount == Decimal("365.96") and invoice.currency == "USD"
    assert [p.entity for p in invoice.parties] == ["SO", "RI"]


def test_846_x12parser_1_brace_terminator_and_tilde_separator():
    interchange = read_interchange(raw("846-x12parser-1.edi"))
    d = interchange.delimiters
    assert (d.element, d.component, d.segment, d.repetition) == ("~", ">", "}", None)
    assert interchange.groups[0].receiver == "SANMINACORP"
    (advice,) = (map_846(tset) for tset in interchange.transaction_sets())
    assert (advice.purpose, advice.report_type, advice.reference, advice.advice_date) == (
        "00",
        "CM",
        "10353",
        date(2004, 8, 11),
    )
    (item,) = advice.items
    assert item.product_ids == {"BP": "46L5055", "EC": "5V", "MF": "XYZ Corporation", "MG": "1234123232"}
    assert [(q.qualifier, q.quantity, q.unit) for q in item.quantities] == [
        ("34", Decimal(5250), "EA"),
        ("QH", Decimal(100), "EA"),
        ("QB", Decimal(50), "EA"),
        ("87", Decimal(75), "EA"),
    ]
    assert item.quantity("34") == Decimal(5250)


def test_850_nodex12_tilde_and_newline_terminators_read_the_same_order():
    with_tilde, with_newline = (map_850(sets(name)[0]) for name in ("850-nodex12-1.edi", "850-nodex12-2.edi"))
    assert with_tilde == with_newline
    assert read_interchange(raw("850-nodex12-2.edi")).delimiters.segment == "\n"
    order = with_tilde
    assert (order.po_number, order.po_date, order.line_count, order.amounts) == (
        "08292233294",
        date(2010, 11, 27),
        6,
        {"1": Decimal("13045.94")},
    )
    assert [(line.quantity, line.unit_price, line.product_ids["VN"], line.description) for line in order.lines] == [
        (Decimal(120), Decimal("9.25"), "AB3542", "SMALL WIDGET"),
        (Decimal(220), Decimal("13.79"), "RD5322", "MEDIUM WIDGET"),
        (Decimal(126), Decimal("10.99"), "XY5266", "LARGE WIDGET"),
        (Decimal(76), Decimal("4.35"), "VX2332", "NANO WIDGET"),
        (Decimal(72), Decimal("7.5"), "RV0524", "BLUE WIDGET"),
        (Decimal(696), Decimal("9.55"), "DX1875", "ORANGE WIDGET"),
    ]
    assert order.lines[0].product_ids == {"CB": "065322-117", "PR": "RO", "VN": "AB3542"}
    assert read_interchange(raw("850-nodex12-1.edi")).isa.get(1) == "01"


def test_850_edinet_samples():
    (drop_ship,) = (map_850(tset) for tset in sets("850-edinet-1.edi"))
    assert (drop_ship.po_number, drop_ship.po_date) == ("1000012", date(2009, 8, 27))
    assert [(line.quantity, line.unit, line.unit_price, line.product_ids) for line in drop_ship.lines] == [
        (Decimal(1), "EA", Decimal("19.95"), {"VN": "0054321"})
    ]
    (textile,) = (map_850(tset) for tset in sets("850-edinet-2.edi"))
    assert (textile.po_number, textile.po_date, textile.currency) == ("4600000406", date(2014, 7, 24), "USD")
    assert [(line.line_number, line.quantity, line.unit, line.product_ids["BP"]) for line in textile.lines] == [
        ("000100001", Decimal(2500), "YD", "A_QU001-BLK"),
        ("000200001", Decimal(2000), "YD", "A_QF001-BLK"),
        ("000200002", Decimal(1000), "YD", "A_QF001-RED"),
    ]
    assert textile.lines[0].description == '4.4oz 3" Diamond Quilt'
    assert textile.lines[0].dates == {"018": date(2014, 7, 30), "067": date(2014, 8, 4)}


def test_997_bots_1_accepts_po_214():
    (ack,) = (map_997(tset) for tset in sets("997-bots-1.edi"))
    assert (ack.functional_id, ack.group_control, ack.status, ack.accepted) == ("PO", "214", "A", True)
    assert [(s.code, s.control_number, s.status) for s in ack.sets] == [("850", "000000390", "A")]
    assert (ack.sets_included, ack.sets_received, ack.sets_accepted) == (1, 1, 1)
