"""Mappers: transaction set → canonical dataclass, with exact values, and precise errors for bad values."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest

from suppliers.adapters.x12 import (
    LineAck,
    LineSchedule,
    Mark,
    Party,
    X12Error,
    map_810,
    map_846,
    map_855,
    map_856,
    map_997,
    read_interchange,
)
from tests.unit.test_x12_support import SHIP_NOTICE, one_set
from tests.x12_readback import map_824, map_850


def first_set(code: str, body: list[str], **options):
    return next(read_interchange(one_set(code, body, **options)).transaction_sets())


def mapping_error(mapper, code: str, body: list[str], **options) -> X12Error:
    raw = one_set(code, body, **options)
    tset = next(read_interchange(raw).transaction_sets())
    with pytest.raises(X12Error) as caught:
        mapper(tset)
    return caught.value


# 856 -------------------------------------------------------------------------------------------


def test_856_ship_notice_with_its_hierarchy():
    notice = map_856(first_set("856", SHIP_NOTICE))

    assert (notice.control_number, notice.purpose, notice.shipment_id) == ("0001", "00", "ASN-1001")
    assert notice.notice_date == date(2026, 1, 14) and notice.notice_time == time(9, 30)
    assert notice.structure == "0001"
    assert notice.shipped_on == date(2026, 1, 14) and notice.expected_delivery_on == date(2026, 1, 20)
    assert (notice.carrier_qualifier, notice.carrier_code, notice.transport_method, notice.routing) == (
        "2",
        "UPSN",
        "M",
        "UPS GROUND",
    )
    assert notice.bill_of_lading == "BOL-77" and notice.references == {"BM": "BOL-77"}
    assert notice.parties == (Party(entity="ST", name="MAIN WAREHOUSE", id_qualifier="92", id="WH-A"),)
    assert [(h.hl_id, h.parent_id, h.level) for h in notice.hierarchy] == [
        ("1", None, "S"),
        ("2", "1", "O"),
        ("3", "2", "P"),
        ("4", "3", "I"),
        ("5", "3", "I"),
    ]
    assert [(o.hl_id, o.po_number, o.po_date) for o in notice.orders] == [("2", "PO-42", date(2026, 1, 1))]
    assert [(p.hl_id, p.level, p.sscc) for p in notice.packs] == [("3", "P", "00012345678901234567")]
    assert notice.packs[0].marks == (Mark("GM", "00012345678901234567"),)
    first, second = notice.items
    assert first.product_ids == {"BP": "SKU-1", "VP": "SUP-1"}
    assert (first.line_number, first.quantity, first.unit, first.description) == ("1", Decimal(10), "EA", "BLUE WIDGET")
    assert (first.order_hl_id, first.po_number, first.pack_hl_id) == ("2", "PO-42", "3")
    assert (first.ordinal, second.ordinal) == (14, 18)
    assert (first.quantity_ordered, first.ordered_unit) == (None, None)
    assert second.product_ids == {"VP": "SUP-2"}
    assert (second.quantity, second.unit, second.quantity_ordered, second.ordered_unit) == (
        Decimal("2.5"),
        "CA",
        Decimal(3),
        "CA",
    )
    assert notice.line_count == 2


def test_856_items_directly_under_orders_have_no_pack():
    body = ["BSN*00*A2*20260115*1200", "HL*1**S", "HL*2*1*O", "PRF*PO-7", "HL*3*2*I", "LIN**BP*SKU-9", "SN1**4*EA"]
    notice = map_856(first_set("856", body))
    (item,) = notice.items
    assert (item.order_hl_id, item.po_number, item.pack_hl_id, item.line_number) == ("2", "PO-7", None, None)
    assert notice.shipped_on is None and notice.carrier_code is None and notice.bill_of_lading is None


def test_856_lin_with_empty_slots_keeps_every_pair():
    body = ["BSN*00*A2*20260115", "HL*1**S", "HL*2*1*I", "LIN*4*UP*058824077500***BP*01113481", "SN1**11*EA"]
    (item,) = map_856(first_set("856", body)).items
    assert item.product_ids == {"UP": "058824077500", "BP": "01113481"}


def test_856_bad_date_names_segment_element_value_and_format():
    body = [*SHIP_NOTICE]
    body[4] = "DTM*011*11/28/26"
    raw = one_set("856", body)
    error = mapping_error(map_856, "856", body)
    assert str(error) == "DTM02 '11/28/26' is not a CCYYMMDD date"
    assert (error.segment, error.element, error.value, error.reason) == ("DTM", "DTM02", "11/28/26", "invalid_date")
    assert error.position == raw.index(b"11/28/26")
    assert error.ordinal == 6
    assert (error.set_control, error.group_control) == ("0001", "1")


def test_856_impossible_calendar_date_is_refused():
    body = [*SHIP_NOTICE]
    body[0] = "BSN*00*ASN-1001*20260230*0930"
    assert str(mapping_error(map_856, "856", body)) == "BSN03 '20260230' is not a CCYYMMDD date"


def test_856_quantity_that_is_not_a_number():
    body = [*SHIP_NOTICE]
    body[13] = "SN1**ten*EA"
    raw = one_set("856", body)
    error = mapping_error(map_856, "856", body)
    assert str(error) == "SN102 'ten' is not a number"
    assert (error.element, error.value, error.reason, error.ordinal) == ("SN102", "ten", "not_a_number", 15)
    assert error.position == raw.index(b"ten")


@pytest.mark.parametrize("value", ["1,000", "1e3", "+5", "12 EA", "."])
def test_856_numbers_are_plain_decimals_only(value):
    body = [*SHIP_NOTICE]
    body[13] = f"SN1**{value}*EA"
    assert str(mapping_error(map_856, "856", body)) == f"SN102 {value!r} is not a number"


def test_856_missing_quantity_and_unit():
    body = [*SHIP_NOTICE]
    body[13] = "SN1***EA"
    assert str(mapping_error(map_856, "856", body)) == "SN102 is missing; expected a quantity shipped"
    body[13] = "SN1**10"
    error = mapping_error(map_856, "856", body)
    assert str(error) == "SN103 is missing; expected a unit of measure"
    assert error.reason == "missing"


def test_856_bad_time():
    body = [*SHIP_NOTICE]
    body[0] = "BSN*00*ASN-1001*20260114*2561"
    error = mapping_error(map_856, "856", body)
    assert str(error) == "BSN04 '2561' is not an HHMM time"
    assert error.reason == "invalid_time"


def test_856_without_bsn():
    error = mapping_error(map_856, "856", SHIP_NOTICE[1:])
    assert str(error) == "set 0001 has no BSN segment (the ship notice header)"
    assert (error.segment, error.reason, error.set_control) == ("BSN", "missing", "0001")


def test_856_hl_parent_must_exist_earlier():
    body = [*SHIP_NOTICE]
    body[7] = "HL*2*9*O"
    error = mapping_error(map_856, "856", body)
    assert str(error) == "HL02 '9' names no earlier HL in this set"
    assert error.element == "HL02" and error.ordinal == 9


def test_856_hl_ids_must_be_unique():
    body = [*SHIP_NOTICE]
    body[15] = "HL*4*3*I"
    assert str(mapping_error(map_856, "856", body)) == "HL01 '4' repeats an earlier HL id"


def test_856_item_details_outside_an_item_level_are_refused():
    body = [*SHIP_NOTICE]
    body.insert(11, "LIN*9*BP*SKU-LOST")
    raw = one_set("856", body)
    error = mapping_error(map_856, "856", body)
    offset = raw.index(b"LIN*9")
    assert (
        str(error) == f"LIN at byte {offset} is under HL 3 (level P); item details belong under an item level (HL03 I)"
    )


def test_856_item_without_sn1_or_lin():
    body = [*SHIP_NOTICE]
    del body[13]
    assert str(mapping_error(map_856, "856", body)) == "item HL 4 has no SN1 segment (quantity shipped)"
    body = [*SHIP_NOTICE]
    del body[12]
    error = mapping_error(map_856, "856", body)
    assert str(error) == "item HL 4 has no LIN segment (product IDs)"
    assert (error.segment, error.ordinal) == ("HL", 13)


def test_856_item_with_a_second_sn1_is_refused_rather_than_half_read():
    body = [*SHIP_NOTICE]
    body.insert(14, "SN1**3*EA")
    raw = one_set("856", body)
    first, second = raw.index(b"SN1**10"), raw.index(b"SN1**3*")
    assert str(mapping_error(map_856, "856", body)) == f"SN1 at byte {second} repeats the SN1 at byte {first}"


def test_856_product_id_without_qualifier_and_conflicting_qualifiers():
    body = [*SHIP_NOTICE]
    body[12] = "LIN*1**SKU-1"
    assert str(mapping_error(map_856, "856", body)) == "LIN03 'SKU-1' has no product ID qualifier in LIN02"
    body[12] = "LIN*1*BP*SKU-1*BP*SKU-2"
    assert (
        str(mapping_error(map_856, "856", body))
        == "LIN04 qualifier 'BP' repeats with another ID 'SKU-2' (first 'SKU-1')"
    )
    body[12] = "LIN*1*BP*SKU-1*BP*SKU-1"
    assert map_856(first_set("856", body)).items[0].product_ids == {"BP": "SKU-1"}


def test_856_lin_with_only_empty_ids():
    body = [*SHIP_NOTICE]
    body[12] = "LIN*1*BP*"
    assert str(mapping_error(map_856, "856", body)) == "LIN of item HL 4 carries no product ID"


def test_mapper_refuses_another_transaction_set():
    error = mapping_error(map_856, "855", ["BAK*00*AD*PO-1*20260110"])
    assert str(error) == "set 0001 is a 855, not a 856"
    assert (error.element, error.reason) == ("ST01", "wrong_set")


def test_dtm_in_d8_and_rd8_period_format():
    body = [*SHIP_NOTICE]
    body[4] = "DTM*011****D8*20260113"
    body[5] = "DTM*017****RD8*20260120-20260122"
    notice = map_856(first_set("856", body))
    assert (notice.shipped_on, notice.expected_delivery_on) == (date(2026, 1, 13), date(2026, 1, 20))
    body[5] = "DTM*017****RD8*2026012-20260122"
    assert str(mapping_error(map_856, "856", body)) == "DTM06 '2026012-20260122' is not a CCYYMMDD date"


# 855 -------------------------------------------------------------------------------------------

ACK = [
    "BAK*00*AC*PO-42*20260110****ORD-9*20260112",
    "CUR*SE*USD",
    "REF*VR*V-1",
    "DTM*067*20260120",
    "N1*SU*WIDGET CO*92*SUP01",
    "N3*1 MAIN ST*UNIT 4",
    "N4*SPRINGFIELD*IL*62701*US",
    "PO1*1*10*EA*2.5*PE*BP*SKU-1*VP*SUP-1",
    "PID*F****BLUE WIDGET",
    "ACK*IA*8*EA*068*20260118",
    "ACK*IB*2*EA*068*20260201",
    "SCH*8*EA***002*20260119",
    "DTM*002*20260119",
    "PO1*2*5*EA*4*PE*VP*SUP-2",
    "ACK*IR*0*EA",
    "CTT*2",
]


def test_855_acknowledgement_with_line_statuses_schedules_and_dates():
    ack = map_855(first_set("855", ACK, functional_id="PR"))
    assert (ack.purpose, ack.ack_type, ack.po_number, ack.po_date) == ("00", "AC", "PO-42", date(2026, 1, 10))
    assert (ack.reference, ack.ack_date, ack.currency) == ("ORD-9", date(2026, 1, 12), "USD")
    assert ack.references == {"VR": "V-1"} and ack.dates == {"067": date(2026, 1, 20)}
    assert ack.parties == (
        Party(
            entity="SU",
            name="WIDGET CO",
            id_qualifier="92",
            id="SUP01",
            address=("1 MAIN ST", "UNIT 4"),
            city="SPRINGFIELD",
            state="IL",
            postal_code="62701",
            country="US",
        ),
    )
    first, second = ack.lines
    assert (first.line_number, first.quantity, first.unit, first.unit_price, first.price_basis) == (
        "1",
        Decimal(10),
        "EA",
        Decimal("2.5"),
        "PE",
    )
    assert first.product_ids == {"BP": "SKU-1", "VP": "SUP-1"} and first.description == "BLUE WIDGET"
    assert (first.ordinal, second.ordinal) == (9, 15)
    assert first.acks == (
        LineAck("IA", Decimal(8), "EA", "068", date(2026, 1, 18)),
        LineAck("IB", Decimal(2), "EA", "068", date(2026, 2, 1)),
    )
    assert first.status == "IA" and first.acks[1].label == "item backordered"
    assert first.schedules == (LineSchedule(Decimal(8), "EA", "002", date(2026, 1, 19)),)
    assert first.dates == {"002": date(2026, 1, 19)}
    assert second.status == "IR" and second.acks[0].quantity == Decimal(0) and second.acks[0].date is None
    assert ack.line_count == 2


def test_855_bad_ack_date_and_missing_bak():
    body = [*ACK]
    body[9] = "ACK*IA*8*EA*068*2026-01-18"
    error = mapping_error(map_855, "855", body)
    assert str(error) == "ACK05 '2026-01-18' is not a CCYYMMDD date"
    assert error.ordinal == 11
    assert str(mapping_error(map_855, "855", ACK[1:])) == "set 0001 has no BAK segment (the acknowledgement header)"
    body = [*ACK]
    body[0] = "BAK*00*AC**20260110"
    assert str(mapping_error(map_855, "855", body)) == "BAK03 is missing; expected a purchase order number"


# 810 -------------------------------------------------------------------------------------------

INVOICE = [
    "BIG*20260115*INV-7*20260110*PO-42***DI",
    "CUR*SE*USD",
    "REF*VN*ORD-9",
    "N1*RE*WIDGET CO",
    "DTM*011*20260114",
    "IT1*1*10*EA*2.5**BP*SKU-1*VP*SUP-1",
    "PID*F****BLUE WIDGET",
    "N1*ST*NOT A HEADER PARTY",
    "IT1**5*EA*4**VP*SUP-2",
    "TDS*4500",
    "CTT*2",
]


def test_810_invoice_with_lines_and_implied_decimal_total():
    invoice = map_810(first_set("810", INVOICE, functional_id="IN"))
    assert (invoice.invoice_date, invoice.invoice_number, invoice.po_date, invoice.po_number) == (
        date(2026, 1, 15),
        "INV-7",
        date(2026, 1, 10),
        "PO-42",
    )
    assert (invoice.transaction_type, invoice.currency, invoice.references) == ("DI", "USD", {"VN": "ORD-9"})
    assert invoice.parties == (Party(entity="RE", name="WIDGET CO"),)
    assert invoice.dates == {"011": date(2026, 1, 14)}
    assert [(i.line_number, i.quantity, i.unit, i.unit_price, i.product_ids, i.description) for i in invoice.lines] == [
        ("1", Decimal(10), "EA", Decimal("2.5"), {"BP": "SKU-1", "VP": "SUP-1"}, "BLUE WIDGET"),
        (None, Decimal(5), "EA", Decimal(4), {"VP": "SUP-2"}, None),
    ]
    assert invoice.total_amount == Decimal("45.00") and invoice.line_count == 2
    assert [line.ordinal for line in invoice.lines] == [7, 10]


def test_810_charges_come_from_summary_sacs_or_else_from_line_sacs():
    with_line_charges = [
        *INVOICE[:6],
        "SAC*C*G830***150",  # freight on line 1: 1.50
        "SAC*N*B840*AB*NOTE*999",  # no charge: ignored
        *INVOICE[6:9],
        "SAC*A*C310***50",  # discount on line 2: 0.50
        "TDS*4600",
        "CTT*2",
    ]
    invoice = map_810(first_set("810", with_line_charges, functional_id="IN"))
    assert [(c.indicator, c.code, c.amount) for c in invoice.charges] == [
        ("C", "G830", Decimal("1.50")),
        ("A", "C310", Decimal("0.50")),
    ]
    assert invoice.net_charges == Decimal("1.00")

    restated = [*with_line_charges[:-1], "SAC*C*G830***150", "SAC*A*C310***50**********DISCOUNT", "CTT*2"]
    summary = map_810(first_set("810", restated, functional_id="IN"))
    assert [(c.indicator, c.amount, c.description) for c in summary.charges] == [
        ("C", Decimal("1.50"), None),
        ("A", Decimal("0.50"), "DISCOUNT"),
    ]
    assert map_810(first_set("810", INVOICE, functional_id="IN")).charges == ()


def test_810_total_must_be_n2_digits_and_prices_numbers():
    body = [*INVOICE]
    body[9] = "TDS*45.00"
    error = mapping_error(map_810, "810", body)
    assert str(error) == "TDS01 '45.00' is not an N2 amount (digits with 2 implied decimals)"
    body = [*INVOICE]
    body[5] = "IT1*1*10*EA*2,50**BP*SKU-1"
    assert str(mapping_error(map_810, "810", body)) == "IT104 '2,50' is not a number"
    assert str(mapping_error(map_810, "810", INVOICE[1:])) == "set 0001 has no BIG segment (the invoice header)"


# 846 -------------------------------------------------------------------------------------------

ADVICE = [
    "BIA*00*MM*ADV-3*20260115*0800",
    "DTM*007*20260115",
    "N1*SU*WIDGET CO*92*SUP01",
    "LIN*1*VP*SUP-1*BP*SKU-1",
    "PID*F****BLUE WIDGET",
    "QTY*33*120",
    "UIT*EA",
    "QTY*QH*4*CA>12",
    "QTY*17*-3",
    "LIN*2*VP*SUP-2",
    "UIT*CA",
    "QTY*33*7",
    "DTM*018*20260201",
]


def test_846_inventory_advice_with_quantities_and_units():
    advice = map_846(first_set("846", ADVICE, functional_id="IB"))
    assert (advice.purpose, advice.report_type, advice.reference) == ("00", "MM", "ADV-3")
    assert (advice.advice_date, advice.advice_time) == (date(2026, 1, 15), time(8, 0))
    assert advice.dates == {"007": date(2026, 1, 15)}
    first, second = advice.items
    assert first.product_ids == {"VP": "SUP-1", "BP": "SKU-1"} and first.description == "BLUE WIDGET"
    assert [(q.qualifier, q.quantity, q.unit) for q in first.quantities] == [
        ("33", Decimal(120), "EA"),
        ("QH", Decimal(4), "CA"),
        ("17", Decimal(-3), None),
    ]
    assert first.quantity("QH") == Decimal(4) and first.quantity("ZZ") is None
    assert (first.ordinal, second.ordinal) == (5, 11)
    assert [(q.qualifier, q.quantity, q.unit) for q in second.quantities] == [("33", Decimal(7), "CA")]
    assert second.dates == {"018": date(2026, 2, 1)}


def test_846_bad_quantity_and_missing_header():
    body = [*ADVICE]
    body[5] = "QTY*33*lots"
    error = mapping_error(map_846, "846", body)
    assert str(error) == "QTY02 'lots' is not a number"
    assert error.ordinal == 7
    assert str(mapping_error(map_846, "846", ADVICE[1:])) == "set 0001 has no BIA segment (the inventory advice header)"


# 850 -------------------------------------------------------------------------------------------


def test_850_purchase_order():
    body = [
        "BEG*00*SA*PO-42**20260110",
        "CUR*BY*EUR",
        "REF*DP*038",
        "DTM*002*20260120",
        "N1*ST*MAIN WAREHOUSE*92*WH-A",
        "PO1*1*120*EA*9.25*TE*CB*065322-117*VN*AB3542",
        "PID*F****SMALL WIDGET",
        "DTM*002*20260125",
        "PO1*2*7*CA",
        "CTT*2*127",
        "AMT*TT*1110",
    ]
    order = map_850(first_set("850", body, functional_id="PO"))
    assert (order.purpose, order.order_type, order.po_number, order.po_date) == ("00", "SA", "PO-42", date(2026, 1, 10))
    assert (order.currency, order.references, order.dates) == ("EUR", {"DP": "038"}, {"002": date(2026, 1, 20)})
    first, second = order.lines
    assert (first.quantity, first.unit, first.unit_price, first.price_basis) == (
        Decimal(120),
        "EA",
        Decimal("9.25"),
        "TE",
    )
    assert first.product_ids == {"CB": "065322-117", "VN": "AB3542"} and first.description == "SMALL WIDGET"
    assert first.dates == {"002": date(2026, 1, 25)}
    assert (first.ordinal, second.ordinal) == (7, 10)
    assert (second.quantity, second.unit, second.unit_price, second.product_ids) == (Decimal(7), "CA", None, {})
    assert order.line_count == 2 and order.amounts == {"TT": Decimal(1110)}


# 997 and 824 -----------------------------------------------------------------------------------


def test_997_with_segment_and_element_notes():
    body = [
        "AK1*SH*77",
        "AK2*856*0001",
        "AK3*SN1*15**8",
        "AK4*2**6*ten",
        "AK5*R*5",
        "AK2*856*0002",
        "AK5*A",
        "AK9*P*2*2*1",
    ]
    ack = map_997(first_set("997", body, functional_id="FA"))
    assert (ack.functional_id, ack.group_control, ack.version) == ("SH", "77", None)
    assert (ack.status, ack.sets_included, ack.sets_received, ack.sets_accepted) == ("P", 2, 2, 1)
    assert not ack.accepted and ack.error_codes == ()
    rejected, accepted = ack.sets
    assert (rejected.code, rejected.control_number, rejected.status, rejected.error_codes) == (
        "856",
        "0001",
        "R",
        ("5",),
    )
    assert not rejected.accepted and accepted.accepted
    (note,) = rejected.segments
    assert (note.segment, note.ordinal, note.loop, note.code) == ("SN1", 15, None, "8")
    assert [(e.position, e.reference, e.code, e.value) for e in note.elements] == [("2", None, "6", "ten")]


def test_997_without_ak5_or_ak9():
    error = mapping_error(map_997, "997", ["AK1*SH*77", "AK2*856*0001", "AK9*A*1*1*1"], functional_id="FA")
    assert str(error) == "AK2 of set 0001 has no AK5 response"
    error = mapping_error(map_997, "997", ["AK1*SH*77", "AK2*856*0001", "AK5*A"], functional_id="FA")
    assert str(error) == "set 0001 has no AK9 segment (the group response)"


def test_824_application_advice():
    body = [
        "BGN*00*REF-1*20260115",
        "OTI*TR*SI*ASN-1001*SUPPLIER*SCMCORE*20260115*1230*7*0001*856",
        "TED*024*unknown supplier part number SUP-9 in LIN03 of item HL 4*LIN*14*3**SUP-9",
        "NTE**; add the mapping and reprocess",
    ]
    advice = map_824(first_set("824", body, functional_id="AG"))
    assert (advice.purpose, advice.reference, advice.advice_date) == ("00", "REF-1", date(2026, 1, 15))
    (item,) = advice.items
    assert (item.action, item.reference_qualifier, item.reference_id) == ("TR", "SI", "ASN-1001")
    assert (item.group_control, item.set_control, item.set_code) == ("7", "0001", "856")
    (error,) = item.errors
    assert error.message == "unknown supplier part number SUP-9 in LIN03 of item HL 4; add the mapping and reprocess"
    assert (error.code, error.segment, error.ordinal, error.element, error.value) == ("024", "LIN", 14, 3, "SUP-9")
