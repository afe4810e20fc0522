"""The inbound pipeline through its services: replies (997 for every interchange, 824 for business
rejections), all-or-nothing application, duplicates, every canonical event, reprocessing (service and
management command), and the raw body that no one can change."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from inventory import selectors as inventory_selectors
from scm.events.store import read_stream
from suppliers import apply, inbound, services
from suppliers.adapters.x12 import map_997, read_interchange
from suppliers.models import (
    InboundMessage,
    MessageClaim,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    ShipNotice,
    SupplierInvoice,
)
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier
from tests.x12_readback import map_824

pytestmark = pytest.mark.django_db


@pytest.fixture
def trade(unique):
    supplier = make_supplier(unique)
    a, b = item(f"A-{unique}").sku, item(f"B-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PA-{unique}", sku=a)
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PB-{unique}", sku=b)
    order = make_order(unique, supplier, [(a, 10, "2.50"), (b, 4, "7.00")])
    return {"supplier": supplier, "a": a, "b": b, "pa": f"PA-{unique}", "pb": f"PB-{unique}", "order": order}


def process(body: bytes, *, supplier=None, content_type: str = "") -> InboundMessage:
    message = inbound.inbound_message_store(body=body, source="api", supplier=supplier, content_type=content_type)
    return inbound.inbound_message_process(message_id=message.pk)


def replies(message: InboundMessage, kind: str) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(inbound_message=message, kind=kind).order_by("pk"))


def asn_refs(trade) -> dict[str, int]:
    prefix = f"ASN-{trade['supplier'].code}-"
    return {
        s.reference: s.quantity
        for sku in (trade["a"], trade["b"])
        for s in inventory_selectors.inbound_for(sku=sku)
        if s.reference.startswith(prefix)
    }


def test_applied_856_gets_an_accepting_997_and_its_events(trade, unique):
    body = interchange(
        trade["supplier"].isa_id,
        11,
        [("856", asn_body(f"S-{unique}", trade["order"].number, [("1", trade["pa"], 4), ("2", trade["pb"], 4)]))],
    )
    message = process(body)
    assert message.status == "APPLIED"
    assert message.summary == {
        "documents": [
            {
                "document": "asn",
                "ship_notice": f"S-{unique}",
                "ship_notice_id": ShipNotice.objects.get(number=f"S-{unique}").pk,
                "purchase_orders": [trade["order"].number],
                "lines": 2,
            }
        ],
        "warnings": [],
    }
    [ack] = replies(message, OutboundKind.ACK_997)
    parsed = read_interchange(bytes(ack.body))
    assert (parsed.sender_id, parsed.receiver_id) == ("SCMCORE", trade["supplier"].isa_id)
    fa = map_997(next(parsed.transaction_sets("997")))
    assert (fa.functional_id, fa.group_control, fa.status) == ("SH", "1", "A")
    assert [(s.code, s.control_number, s.status) for s in fa.sets] == [("856", "0001", "A")]
    assert replies(message, OutboundKind.ADVICE_824) == []

    [applied] = read_stream(message.stream)
    assert applied.type == "SupplierMessageApplied"
    assert applied.payload["document_types"] == ["856"]
    notice_events = [e for e in read_stream(trade["order"].stream) if e.type == "ShipNoticeReceived"]
    assert [(e.payload["ship_notice"], [line["qty"] for line in e.payload["lines"]]) for e in notice_events] == [
        (f"S-{unique}", [4, 4])
    ]
    assert notice_events[0].metadata["causation_id"] == message.stream
    assert notice_events[0].payload["expected_on"] == "2026-01-20"


def test_one_bad_set_stops_the_whole_interchange_and_the_replies_say_which(trade, unique):
    good = asn_body(f"G-{unique}", trade["order"].number, [("1", trade["pa"], 2)])
    bad = asn_body(f"B-{unique}", trade["order"].number, [("2", trade["pb"], 1)], shipped="2026-01-15")
    message = process(interchange(trade["supplier"].isa_id, 12, [("856", good), ("856", bad)]))
    assert message.status == "QUARANTINED"
    assert [(e["code"], e["element"], e["value"], e["path"]) for e in message.errors] == [
        ("x12_invalid_date", "DTM02", "2026-01-15", "GS 1/ST 0002/DTM #4")
    ]
    assert asn_refs(trade) == {}  # not even the good set
    assert not ShipNotice.objects.filter(number=f"G-{unique}").exists()

    [ack] = replies(message, OutboundKind.ACK_997)
    fa = map_997(next(read_interchange(bytes(ack.body)).transaction_sets("997")))
    assert [(s.control_number, s.status) for s in fa.sets] == [("0001", "A"), ("0002", "R")]
    rejected = fa.sets[1].segments[0]
    assert (rejected.segment, rejected.ordinal, [(e.position, e.code, e.value) for e in rejected.elements]) == (
        "DTM",
        4,
        [("2", "8", "2026-01-15")],
    )
    assert fa.status == "P"
    [advice] = replies(message, OutboundKind.ADVICE_824)
    items = map_824(next(read_interchange(bytes(advice.body)).transaction_sets("824"))).items
    assert [(i.action, i.set_control) for i in items] == [("TR", "0001")]
    assert items[0].errors[0].message.startswith("not applied: the interchange is applied whole")


def test_business_rejection_gets_an_accepting_997_and_an_824_with_the_reason(trade, unique):
    body = interchange(
        trade["supplier"].isa_id,
        13,
        [
            ("856", asn_body(f"U-{unique}", trade["order"].number, [("1", trade["pa"], 1)])),
            ("856", asn_body(f"V-{unique}", trade["order"].number, [("1", "UNMAPPED-1", 1), ("2", "UNMAPPED-2", 1)])),
        ],
    )
    message = process(body)
    assert message.status == "QUARANTINED"
    assert [(e["code"], e["value"], e["path"]) for e in message.errors] == [
        ("unknown_supplier_part", "UNMAPPED-1", "GS 1/ST 0002/HL 3"),
        ("unknown_supplier_part", "UNMAPPED-2", "GS 1/ST 0002/HL 4"),
    ]
    assert asn_refs(trade) == {}
    [ack] = replies(message, OutboundKind.ACK_997)
    fa = map_997(next(read_interchange(bytes(ack.body)).transaction_sets("997")))
    assert [s.status for s in fa.sets] == ["A", "A"]  # syntax is fine
    [advice] = replies(message, OutboundKind.ADVICE_824)
    items = map_824(next(read_interchange(bytes(advice.body)).transaction_sets("824"))).items
    assert [(i.action, i.set_control, i.set_code) for i in items] == [
        ("TR", "0001", "856"),
        ("TR", "0002", "856"),
        ("TR", "0002", "856"),
    ]
    assert items[1].errors[0].message == message.errors[0]["message"]
    assert items[1].errors[0].value == "UNMAPPED-1"
    [event] = read_stream(message.stream)
    assert event.type == "SupplierMessageQuarantined"
    assert event.payload["errors"] == message.errors


def test_duplicates_by_checksum_by_interchange_number_and_by_document_number(trade, unique):
    segments = asn_body(f"D-{unique}", trade["order"].number, [("1", trade["pa"], 3)])
    body = interchange(trade["supplier"].isa_id, 14, [("856", segments)])
    first = process(body)
    again = process(body)
    assert (first.status, again.status, again.duplicate_of_id) == ("APPLIED", "DUPLICATE", first.pk)
    same_number = process(interchange(trade["supplier"].isa_id, 14, [("856", segments)], terminator="~\r\n"))
    assert (same_number.status, same_number.duplicate_of_id) == ("DUPLICATE", first.pk)
    assert asn_refs(trade) == {f"ASN-{trade['supplier'].code}-D-{unique}/1": 3}
    assert MessageClaim.objects.filter(message=first).count() == 2  # sha256 and sender+ISA13

    resent_asn = process(interchange(trade["supplier"].isa_id, 15, [("856", segments)]))
    assert resent_asn.status == "QUARANTINED"
    assert resent_asn.errors[0]["code"] == "duplicate_document"
    [advice] = replies(resent_asn, OutboundKind.ADVICE_824)
    ted = map_824(next(read_interchange(bytes(advice.body)).transaction_sets("824"))).items[0].errors[0]
    assert ted.code == "006"

    payload = {
        "document": "asn",
        "version": 1,
        "supplier": trade["supplier"].code,
        "shipment_id": f"J-{unique}",
        "expected_on": "2026-02-01",
        "lines": [{"po_number": trade["order"].number, "sku": trade["b"], "qty": 1}],
    }
    json_first = process(json.dumps(payload).encode())
    json_again = process(json.dumps(payload, indent=2).encode())  # other bytes, same shipment
    assert (json_first.status, json_again.status, json_again.duplicate_of_id) == ("APPLIED", "DUPLICATE", json_first.pk)


def test_a_resent_copy_of_a_quarantined_message_is_a_duplicate_not_a_second_quarantine(trade, unique):
    body = interchange(
        trade["supplier"].isa_id, 16, [("856", asn_body(f"Q-{unique}", trade["order"].number, [("1", "LATER", 2)]))]
    )
    first = process(body)
    second = process(body)
    assert (first.status, second.status, second.duplicate_of_id) == ("QUARANTINED", "DUPLICATE", first.pk)
    services.supplier_item_upsert(supplier=trade["supplier"].code, supplier_part="LATER", sku=trade["a"])
    assert inbound.inbound_message_reprocess(message_id=first.pk).status == "APPLIED"
    assert asn_refs(trade) == {f"ASN-{trade['supplier'].code}-Q-{unique}/1": 2}


def test_x12_855_810_846_and_997_are_applied_with_their_events(trade, unique):
    order, supplier = trade["order"], trade["supplier"]
    ack = interchange(
        supplier.isa_id,
        21,
        [
            (
                "855",
                [
                    f"BAK*00*AC*{order.number}*20260110",
                    f"PO1*1*10*EA*2.50**VP*{trade['pa']}",
                    "ACK*IA*10*EA*067*20260201",
                    f"PO1*2*4*EA*7.00**VP*{trade['pb']}",
                    "ACK*IQ*3*EA*067*20260205",
                    "CTT*2",
                ],
            )
        ],
    )
    assert process(ack).status == "APPLIED"
    assert {s.reference: (s.quantity, s.expected_date) for s in inventory_selectors.inbound_for(sku=trade["b"])} == {
        f"PO-{order.number}/2": (3, date(2026, 2, 5))
    }
    acknowledged = [e for e in read_stream(order.stream) if e.type == "PurchaseOrderAcknowledged"][0]
    assert [(line["status"], line["code"], line["qty_confirmed"]) for line in acknowledged.payload["lines"]] == [
        ("accepted", "IA", 10),
        ("changed", "IQ", 3),
    ]

    services.purchase_order_receive(po_id=order.pk, lines={1: 10, 2: 3})
    invoice = interchange(
        supplier.isa_id,
        22,
        [
            (
                "810",
                [
                    f"BIG*20260210*INV-{unique}**{order.number}",
                    f"IT1*1*10*EA*2.50**VP*{trade['pa']}",
                    f"IT1*2*4*EA*7.10**VP*{trade['pb']}",
                    "TDS*5340",
                    "CTT*2",
                ],
            )
        ],
    )
    assert process(invoice).status == "APPLIED"
    stored = SupplierInvoice.objects.get(supplier=supplier, number=f"INV-{unique}")
    assert (stored.match_status, stored.total) == ("mismatch", Decimal("53.4000"))
    assert stored.match["findings"] == [
        f"line 2 ({trade['b']}): invoiced 4 but received 3",
        f"line 2 ({trade['b']}): invoiced 4 but ordered 3",
        f"line 2 ({trade['b']}): price 7.1000 differs from PO price 7.0000",
    ]
    assert [line["matched"] for line in stored.match["lines"]] == [True, False]
    invoiced = [e for e in read_stream(order.stream) if e.type == "SupplierInvoiced"][0]
    assert invoiced.payload["match"] == stored.match

    advice = interchange(
        supplier.isa_id,
        23,
        [("846", ["BIA*00*MM*ADV-1*20260211", f"LIN*1*VP*{trade['pa']}", "QTY*33*120*EA", "QTY*QH*7*EA"])],
    )
    assert process(advice).status == "APPLIED"
    advised = read_stream(f"supplier-{supplier.code}")[-1]
    assert advised.type == "SupplierInventoryAdvised"
    assert advised.payload["items"] == [
        {"sku": trade["a"], "supplier_part": trade["pa"], "available": 120, "quantities": {"available": 120, "QH": 7}}
    ]

    sent = OutboundMessage.objects.get(purchase_order=order, kind=OutboundKind.PO_850)
    fa = interchange(
        supplier.isa_id,
        24,
        [("997", [f"AK1*PO*{sent.gs_control}", f"AK2*850*{int(sent.st_control):04d}", "AK5*A", "AK9*A*1*1*1"])],
    )
    message = process(fa)
    assert message.status == "APPLIED"
    assert replies(message, OutboundKind.ACK_997) == []  # acknowledgements are not acknowledged
    sent.refresh_from_db()
    assert (sent.status, sent.acknowledged_by_id) == (OutboundStatus.ACCEPTED, message.pk)
    functional = read_stream(f"supplier-{supplier.code}")[-1]
    assert (functional.type, functional.payload["purchase_order"], functional.payload["accepted"]) == (
        "FunctionalAckReceived",
        order.number,
        True,
    )


def test_sender_mismatch_and_inactive_supplier_are_quarantined(trade, unique):
    other = make_supplier(f"x{unique}")
    body = interchange(
        other.isa_id, 31, [("856", asn_body(f"M-{unique}", trade["order"].number, [("1", trade["pa"], 1)]))]
    )
    message = process(body, supplier=trade["supplier"])
    assert message.status == "QUARANTINED"
    assert message.errors[0]["code"] == "sender_mismatch"
    assert message.supplier_id == trade["supplier"].pk  # stays with the supplier it was received for

    services.supplier_upsert(code=other.code, name=other.name, active=False)
    body = interchange(
        other.isa_id, 32, [("856", asn_body(f"I-{unique}", trade["order"].number, [("1", trade["pa"], 1)]))]
    )
    inactive = process(body)
    assert [(e["code"], e["message"]) for e in inactive.errors] == [
        ("supplier_inactive", f"supplier {other.code} is inactive")
    ]


def test_an_unexpected_failure_quarantines_as_internal_error_and_reprocess_recovers(trade, unique, monkeypatch):
    from suppliers import tasks

    body = interchange(
        trade["supplier"].isa_id, 41, [("856", asn_body(f"E-{unique}", trade["order"].number, [("1", trade["pa"], 5)]))]
    )
    message = inbound.inbound_message_store(body=body, source="api")
    real = apply.plan_documents

    def broken(*args, **kwargs):
        raise RuntimeError("simulated bug in planning")

    monkeypatch.setattr(apply, "plan_documents", broken)
    assert tasks.process_inbound_message.delay(message.pk).get() == "QUARANTINED"
    message.refresh_from_db()
    assert message.status == "QUARANTINED"
    assert message.errors[0]["code"] == "internal_error"
    assert message.errors[0]["message"] == (
        "processing failed unexpectedly (RuntimeError: simulated bug in planning); reprocess after the fix"
    )
    monkeypatch.setattr(apply, "plan_documents", real)
    assert inbound.inbound_message_reprocess(message_id=message.pk).status == "APPLIED"
    assert asn_refs(trade) == {f"ASN-{trade['supplier'].code}-E-{unique}/1": 5}


def test_reprocess_command_reports_progress_and_can_run_again(trade, unique):
    bodies = [
        interchange(
            trade["supplier"].isa_id,
            50 + n,
            [("856", asn_body(f"C{n}-{unique}", trade["order"].number, [("1", f"LATE-{n}-{unique}", 1)]))],
        )
        for n in range(3)
    ]
    messages = [process(body) for body in bodies]
    assert {m.status for m in messages} == {"QUARANTINED"}
    services.supplier_item_upsert(supplier=trade["supplier"].code, supplier_part=f"LATE-0-{unique}", sku=trade["a"])
    services.supplier_item_upsert(supplier=trade["supplier"].code, supplier_part=f"LATE-1-{unique}", sku=trade["a"])
    out, err = StringIO(), StringIO()
    call_command("reprocess_inbound_messages", "--supplier", trade["supplier"].code, stdout=out, stderr=err)
    assert out.getvalue().strip() == "applied 2, still quarantined 1, duplicate 0, skipped 0"
    assert err.getvalue().splitlines()[0] == f"[1/3] message {messages[0].pk} → APPLIED"
    assert err.getvalue().splitlines()[2].startswith(f"[3/3] message {messages[2].pk} → QUARANTINED: ")

    out = StringIO()
    call_command("reprocess_inbound_messages", "--error-code", "unknown_supplier_part", stdout=out, stderr=StringIO())
    assert out.getvalue().strip() == "applied 0, still quarantined 1, duplicate 0, skipped 0"
    assert len(asn_refs(trade)) == 2
    with pytest.raises(Exception, match="Give message ids"):
        call_command("reprocess_inbound_messages", stdout=StringIO(), stderr=StringIO())


def test_the_raw_body_cannot_be_changed_or_deleted(trade):
    message = process(b"ISA garbage")
    assert message.status == "QUARANTINED"
    with pytest.raises(DatabaseError), transaction.atomic():
        InboundMessage.objects.filter(pk=message.pk).update(body=b"something else")
    with pytest.raises(DatabaseError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM suppliers_inboundmessage WHERE id = %s", [message.pk])
    assert bytes(InboundMessage.objects.get(pk=message.pk).body) == b"ISA garbage"


def test_messages_left_received_are_swept_into_processing(trade, unique):
    from datetime import timedelta

    from django.utils import timezone

    body = interchange(
        trade["supplier"].isa_id, 61, [("856", asn_body(f"W-{unique}", trade["order"].number, [("1", trade["pa"], 2)]))]
    )
    stuck = inbound.inbound_message_store(body=body, source="api")  # as if the broker had been down
    fresh = inbound.inbound_message_store(body=b"too new to sweep", source="api")
    InboundMessage.objects.filter(pk=stuck.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    swept = inbound.sweep_received_messages(older_than_seconds=120)
    assert stuck.pk in swept and fresh.pk not in swept
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.status, fresh.status) == ("APPLIED", "RECEIVED")
