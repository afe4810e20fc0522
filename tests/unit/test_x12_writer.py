"""Writers: exact 850 bytes, round trips (build → read → map gives the input back), 997 and 824 content."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

import pytest

from suppliers.adapters.x12 import (
    Outbound850,
    Outbound850Line,
    Party,
    Rejection824,
    X12Error,
    build_824,
    build_850,
    build_997,
    map_824,
    map_850,
    map_856,
    map_997,
    read_interchange,
)
from tests.unit.test_x12_support import SHIP_NOTICE, message

STAMP = datetime(2026, 1, 15, 9, 5)

ORDER = Outbound850(
    sender_qualifier="ZZ",
    sender_id="SCMCORE",
    receiver_qualifier="01",
    receiver_id="123456789",
    interchange_control=42,
    group_control=7,
    set_control=3,
    created_at=STAMP,
    po_number="PO-2026-0042",
    po_date=date(2026, 1, 14),
    lines=(
        Outbound850Line(sku="SKU-1", quantity=12, unit="EA", unit_price=Decimal("19.950"), supplier_part="SUP-1"),
        Outbound850Line(sku="SKU-2", quantity=Decimal("2.50"), unit="CA", description='Blue widget, 3" * large'),
    ),
    currency="USD",
    ship_to=Party(
        entity="ST",
        name="Main warehouse",
        id_qualifier="92",
        id="WH-A",
        address=("1 Dock Rd",),
        city="Springfield",
        state="IL",
        postal_code="62701",
        country="US",
    ),
)

EXPECTED_850 = (
    "ISA*00*          *00*          *ZZ*SCMCORE        *01*123456789      *260115*0905*U*00401*000000042*0*P*>~\n"
    "GS*PO*SCMCORE*123456789*20260115*0905*7*X*004010~\n"
    "ST*850*0003~\n"
    "BEG*00*SA*PO-2026-0042**20260114~\n"
    "CUR*BY*USD~\n"
    "N1*ST*Main warehouse*92*WH-A~\n"
    "N3*1 Dock Rd~\n"
    "N4*Springfield*IL*62701*US~\n"
    "PO1*1*12*EA*19.95**BP*SKU-1*VP*SUP-1~\n"
    "PO1*2*2.5*CA***BP*SKU-2~\n"
    'PID*F****Blue widget, 3"   large~\n'
    "CTT*2*14.5~\n"
    "SE*11*0003~\n"
    "GE*1*7~\n"
    "IEA*1*000000042~\n"
)


def test_build_850_writes_exact_bytes_with_fixed_width_isa():
    raw = build_850(ORDER)
    assert raw.decode("ascii") == EXPECTED_850
    assert raw.index(b"~") == 105
    assert build_850(ORDER, newline=False) == EXPECTED_850.replace("~\n", "~").encode()


def test_build_850_round_trip_gives_the_order_back():
    interchange = read_interchange(build_850(ORDER))
    assert interchange.warnings == () and interchange.errors == ()
    assert (interchange.sender_qualifier, interchange.sender_id) == ("ZZ", "SCMCORE")
    assert (interchange.receiver_qualifier, interchange.receiver_id) == ("01", "123456789")
    assert interchange.control_number == "000000042" and interchange.usage == "P"
    (group,) = interchange.groups
    assert (group.functional_id, group.control_number, group.sender, group.receiver) == (
        "PO",
        "7",
        "SCMCORE",
        "123456789",
    )

    order = map_850(next(interchange.transaction_sets("850")))
    assert order.control_number == "0003"
    assert (order.po_number, order.po_date, order.currency) == (ORDER.po_number, ORDER.po_date, "USD")
    assert order.parties == (ORDER.ship_to,)
    assert [
        (line.product_ids.get("BP"), line.product_ids.get("VP"), line.quantity, line.unit, line.unit_price)
        for line in order.lines
    ] == [(sent.sku, sent.supplier_part, Decimal(sent.quantity), sent.unit, sent.unit_price) for sent in ORDER.lines]
    assert [line.line_number for line in order.lines] == ["1", "2"]
    assert order.lines[1].description == 'Blue widget, 3"   large'
    assert order.line_count == 2


def test_build_850_minimal_order_round_trips():
    minimal = replace(ORDER, currency=None, ship_to=None, lines=(Outbound850Line("SKU-9", 1, "EA"),), usage="T")
    interchange = read_interchange(build_850(minimal))
    order = map_850(next(interchange.transaction_sets()))
    assert interchange.usage == "T" and order.parties == () and order.currency is None
    assert [(line.product_ids, line.quantity, line.unit_price) for line in order.lines] == [
        ({"BP": "SKU-9"}, Decimal(1), None)
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"lines": (Outbound850Line("SKU*1", 1, "EA"),)}, "PO107 'SKU*1' contains the X12 delimiter '*'"),
        ({"lines": (Outbound850Line("SKU~1", 1, "EA"),)}, "PO107 'SKU~1' contains the X12 delimiter '~'"),
        ({"lines": (Outbound850Line("SKÜ-1", 1, "EA"),)}, "PO107 'SKÜ-1' is not printable ASCII"),
        ({"po_number": "PO>1"}, "BEG03 'PO>1' contains the X12 delimiter '>'"),
        ({"lines": ()}, "purchase order 'PO-2026-0042' has no lines to send"),
        ({"interchange_control": 0}, "ISA13 0 is not a control number (1 to 999999999)"),
        ({"group_control": 1_000_000_000}, "GS06 1000000000 is not a control number (1 to 999999999)"),
        ({"set_control": -1}, "ST02 -1 is not a control number (1 to 999999999)"),
        ({"sender_id": "A-VERY-LONG-SENDER-ID"}, "ISA06 'A-VERY-LONG-SENDER-ID' must be 1 to 15 characters"),
        ({"receiver_qualifier": "1"}, "ISA07 '1' must be 2 characters"),
        ({"usage": "X"}, "ISA15 'X' must be P, T or I"),
        ({"lines": (Outbound850Line("SKU-1", Decimal("NaN"), "EA"),)}, "PO102 Decimal('NaN') is not a finite number"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_build_850_refuses_what_x12_cannot_carry(change, expected):
    with pytest.raises(X12Error) as caught:
        build_850(replace(ORDER, **change))
    assert str(caught.value) == expected
    assert caught.value.reason == "unwritable"


def test_quantities_and_prices_are_plain_decimals():
    lines = (
        Outbound850Line("A", Decimal("1E+2"), "EA", Decimal("0.10")),
        Outbound850Line("B", Decimal("-3.000"), "EA"),
    )
    raw = build_850(replace(ORDER, lines=lines)).decode()
    assert "PO1*1*100*EA*0.1**BP*A~" in raw and "PO1*2*-3*EA***BP*B~" in raw and "CTT*2*97~" in raw


# 997 -------------------------------------------------------------------------------------------

RECEIVED = [
    ("PR", "101", [("855", "0001", ["BAK*00*AD*PO-1*20260110"]), ("855", "0002", ["BAK*00*AC*PO-2*20260111"])]),
    ("SH", "102", [("856", "0003", SHIP_NOTICE)]),
]


def ack_997(interchange, accepted, errors=()):
    raw = build_997(interchange, accepted, errors, interchange_control=900, group_control=901, created_at=STAMP)
    reply = read_interchange(raw)
    return reply, [map_997(tset) for tset in reply.transaction_sets("997")]


def test_997_accepts_every_group_and_set_and_answers_the_sender():
    received = read_interchange(message(RECEIVED))
    reply, acks = ack_997(received, True)
    assert (reply.sender_id, reply.receiver_id) == ("SCMCORE", "SUPPLIER")
    assert (reply.sender_qualifier, reply.receiver_qualifier) == ("ZZ", "ZZ")
    assert reply.control_number == "000000900"
    (group,) = reply.groups
    assert (group.functional_id, group.control_number, group.sender, group.receiver) == (
        "FA",
        "901",
        "SCMCORE",
        "SUPPLIER",
    )
    assert [t.control_number for t in group.transaction_sets] == ["0001", "0002"]
    assert [(a.functional_id, a.group_control, a.status) for a in acks] == [("PR", "101", "A"), ("SH", "102", "A")]
    assert [[(s.code, s.control_number, s.status) for s in a.sets] for a in acks] == [
        [("855", "0001", "A"), ("855", "0002", "A")],
        [("856", "0003", "A")],
    ]
    assert [(a.sets_included, a.sets_received, a.sets_accepted) for a in acks] == [(2, 2, 2), (1, 1, 1)]


def test_997_rejects_everything_when_not_accepted_without_details():
    received = read_interchange(message(RECEIVED))
    _, acks = ack_997(received, False)
    assert [a.status for a in acks] == ["R", "R"]
    assert [[s.status for s in a.sets] for a in acks] == [["R", "R"], ["R"]]
    assert [a.sets_accepted for a in acks] == [0, 0]


def test_997_points_at_the_segment_and_element_of_a_mapping_error():
    raw = message(RECEIVED).replace(b"SN1**10*EA", b"SN1**ten*EA")
    received = read_interchange(raw)
    with pytest.raises(X12Error) as caught:
        map_856(next(received.transaction_sets("856")))
    _, acks = ack_997(received, False, [caught.value])
    partial, rejected = acks
    assert partial.status == "A" and [s.status for s in partial.sets] == ["A", "A"]
    assert (rejected.status, rejected.sets_accepted) == ("R", 0)
    (set_ack,) = rejected.sets
    assert (set_ack.status, set_ack.error_codes) == ("R", ("5",))
    (note,) = set_ack.segments
    assert (note.segment, note.ordinal, note.code) == ("SN1", 15, "8")
    assert [(e.position, e.code, e.value) for e in note.elements] == [("2", "6", "ten")]


def test_997_partial_acceptance_within_a_group_and_errors_noted_on_acceptance():
    received = read_interchange(message(RECEIVED).replace(b"BAK*00*AC*PO-2*20260111", b"BAK*00*AC*PO-2*2026011"))
    error = X12Error(
        "BAK04 '2026011' is not a CCYYMMDD date",
        segment="BAK",
        element="BAK04",
        value="2026011",
        ordinal=2,
        set_control="0002",
        group_control="101",
        reason="invalid_date",
    )
    _, (group, other) = ack_997(received, False, [error])
    assert (group.status, group.sets_accepted) == ("P", 1)
    assert [s.status for s in group.sets] == ["A", "R"]
    assert [(e.position, e.code, e.value) for e in group.sets[1].segments[0].elements] == [("4", "8", "2026011")]
    assert other.status == "A"
    _, (noted, _) = ack_997(received, True, [error])
    assert noted.status == "E" and [s.status for s in noted.sets] == ["A", "E"]


def test_997_from_a_lenient_read_carries_envelope_codes():
    raw = message(RECEIVED).replace(b"SE*3*0002", b"SE*4*0002").replace(b"GE*1*102", b"GE*2*102")
    received = read_interchange(raw, strict=False)
    _, (first, second) = ack_997(received, False)
    assert [(s.control_number, s.status, s.error_codes, s.segments) for s in first.sets] == [
        ("0001", "A", (), ()),
        ("0002", "R", ("4",), ()),
    ]
    assert first.status == "P"
    assert (second.status, second.error_codes, second.sets_included, second.sets_received) == ("R", ("5",), 2, 1)


def test_997_needs_a_group_to_acknowledge():
    empty = read_interchange(
        b"ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*SCMCORE        "
        b"*260115*1230*U*00401*000000001*0*P*>~IEA*0*000000001~"
    )
    with pytest.raises(X12Error, match="^interchange 000000001 has no functional group to acknowledge$"):
        build_997(empty, True, interchange_control=1, group_control=1, created_at=STAMP)


# 824 -------------------------------------------------------------------------------------------

LONG_REASON = (
    "unknown supplier part number SUP-9 in LIN03 of item HL 4; add the mapping to supplier items "
    "and reprocess the message (received 2026-01-15, quarantined by the ship notice service)"
)


def test_824_round_trip_keeps_the_whole_reason_and_names_the_original_set():
    received = read_interchange(message(RECEIVED))
    rejection = Rejection824(
        group_control="102",
        set_control="0003",
        reason=LONG_REASON,
        reference_qualifier="SI",
        reference_id="ASN-1001",
        segment="LIN",
        ordinal=14,
        element=3,
        value="SUP-9",
    )
    raw = build_824(received, [rejection], interchange_control=77, group_control=78, created_at=STAMP, reference="Q-5")
    reply = read_interchange(raw)
    assert reply.groups[0].functional_id == "AG" and (reply.sender_id, reply.receiver_id) == ("SCMCORE", "SUPPLIER")
    tset = next(reply.transaction_sets("824"))
    assert [s.tag for s in tset.segments] == ["ST", "BGN", "OTI", "TED", "NTE", "NTE", "SE"]
    assert all(len(s.get(2)) <= 80 for s in tset.segments if s.tag == "NTE")
    assert len(tset.segments[3].get(2)) <= 60

    advice = map_824(tset)
    assert (advice.reference, advice.advice_date) == ("Q-5", date(2026, 1, 15))
    (item,) = advice.items
    assert (item.action, item.reference_qualifier, item.reference_id) == ("TR", "SI", "ASN-1001")
    assert (item.sender, item.receiver, item.group_control, item.set_control, item.set_code) == (
        "SUPPLIER",
        "SCMCORE",
        "102",
        "0003",
        "856",
    )
    (error,) = item.errors
    assert error.message == LONG_REASON
    assert (error.code, error.segment, error.ordinal, error.element, error.value) == ("024", "LIN", 14, 3, "SUP-9")


def test_824_defaults_and_from_error():
    raw = message(RECEIVED).replace(b"BAK*00*AC*PO-2*20260111", b"BAK*00*AC*PO-2*11/01/26")
    received = read_interchange(raw)
    error = X12Error(
        "BAK04 '11/01/26' is not a CCYYMMDD date",
        segment="BAK",
        element="BAK04",
        value="11/01/26",
        ordinal=2,
        set_control="0002",
        group_control="101",
        reason="invalid_date",
    )
    built = build_824(
        received, [Rejection824.from_error(error)], interchange_control=1, group_control=2, created_at=STAMP
    )
    advice = map_824(next(read_interchange(built).transaction_sets()))
    assert advice.reference == "000000001"
    (item,) = advice.items
    assert (item.reference_qualifier, item.reference_id, item.set_control, item.set_code) == (
        "TN",
        "0002",
        "0002",
        "855",
    )
    assert [(e.code, e.message, e.segment, e.ordinal, e.element, e.value) for e in item.errors] == [
        ("009", "BAK04 '11/01/26' is not a CCYYMMDD date", "BAK", 2, 4, "11/01/26")
    ]


def test_824_free_text_loses_delimiters_but_keeps_the_reason():
    received = read_interchange(message(RECEIVED))
    reason = "SKU 'A*B~C' is blocked — see ticket #12"
    built = build_824(
        received, [Rejection824("101", "0001", reason)], interchange_control=1, group_control=2, created_at=STAMP
    )
    advice = map_824(next(read_interchange(built).transaction_sets()))
    assert advice.items[0].errors[0].message == "SKU 'A B C' is blocked  see ticket #12"


def test_824_refuses_unknown_sets_and_empty_reasons():
    received = read_interchange(message(RECEIVED))
    with pytest.raises(X12Error, match="^set 0009 of group 101 is not in interchange 000000001$"):
        build_824(
            received, [Rejection824("101", "0009", "x")], interchange_control=1, group_control=2, created_at=STAMP
        )
    with pytest.raises(X12Error, match="^a rejection needs a reason text$"):
        build_824(
            received, [Rejection824("101", "0001", " ~ ")], interchange_control=1, group_control=2, created_at=STAMP
        )
    with pytest.raises(X12Error, match="^an 824 needs at least one rejection$"):
        build_824(received, [], interchange_control=1, group_control=2, created_at=STAMP)
    with pytest.raises(X12Error, match="^the error names no transaction set to reject$"):
        Rejection824.from_error(X12Error("the message is empty: there is no X12 data to read", reason="empty"))
