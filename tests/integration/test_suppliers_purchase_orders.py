"""Purchase orders through the services: create, send (a valid 850 with per-supplier control numbers),
acknowledge (inbound supply with the confirmed date), ship notices, receiving (full, partial, by ASN),
cancel and close — with the inventory balances and events they must leave behind."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from inventory import selectors as inventory_selectors
from scm.errors import ValidationFailed
from scm.events.store import read_stream
from suppliers import inbound, services
from suppliers.adapters.x12 import read_interchange
from suppliers.exceptions import DuplicatePurchaseOrder, PurchaseOrderStateError, ReceiptRefused, UnknownSupplier
from suppliers.models import AckStatus, OutboundMessage, PurchaseOrder, ShipNotice
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier
from tests.x12_readback import map_850

pytestmark = pytest.mark.django_db


def inbound_of(sku: str) -> dict[str, tuple[int, date]]:
    return {s.reference: (s.quantity, s.expected_date) for s in inventory_selectors.inbound_for(sku=sku)}


def balance(sku: str, location: str) -> tuple[int, int]:
    found = inventory_selectors.balance_for(sku=sku, location=location)
    return (found.on_hand, found.inbound) if found else (0, 0)


def apply_json(supplier, payload: dict):
    import json

    message = inbound.inbound_message_store(body=json.dumps(payload).encode(), source="api", supplier=supplier)
    return inbound.inbound_message_process(message_id=message.pk)


@pytest.fixture
def po(unique):
    supplier = make_supplier(unique)
    a, b = item(f"A-{unique}").sku, item(f"B-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PA-{unique}", sku=a, pack_size=6)
    order = make_order(unique, supplier, [(a, 12, "1.25"), (b, 5, "10")], send=False)
    return {"supplier": supplier, "a": a, "b": b, "order": order}


def test_create_validates_everything_before_writing(po, unique):
    assert po["order"].status == "DRAFT"
    assert [
        (line.line_no, line.sku, line.qty, line.unit_price, line.supplier_part) for line in po["order"].lines.all()
    ] == [
        (1, po["a"], 12, Decimal("1.2500"), f"PA-{unique}"),
        (2, po["b"], 5, Decimal("10.0000"), ""),
    ]
    created = read_stream(po["order"].stream)
    assert [e.type for e in created] == ["PurchaseOrderCreated"]
    with pytest.raises(DuplicatePurchaseOrder):
        services.purchase_order_create(
            number=po["order"].number, supplier=po["supplier"].code, destination=po["order"].destination, lines=[]
        )
    with pytest.raises(UnknownSupplier):
        services.purchase_order_create(number=f"X-{unique}", supplier="NOPE", destination="X", lines=[])
    with pytest.raises(ValidationFailed, match="qty"):
        services.purchase_order_create(
            number=f"X-{unique}",
            supplier=po["supplier"].code,
            destination=po["order"].destination,
            lines=[{"sku": po["a"], "qty": 0, "unit_price": 1}],
        )
    assert not PurchaseOrder.objects.filter(number=f"X-{unique}").exists()


def test_send_writes_a_valid_850_and_control_numbers_increase_per_supplier(po, unique):
    first = services.purchase_order_send(po_id=po["order"].pk)
    second_order = make_order(f"2{unique}", po["supplier"], [(po["b"], 1, "3")], send=False)
    second = services.purchase_order_send(po_id=second_order.pk)
    other = make_supplier(f"o{unique}")
    third = services.purchase_order_send(po_id=make_order(f"3{unique}", other, [(po["b"], 1, "3")], send=False).pk)

    assert (first.isa_control, first.gs_control, first.st_control) == ("1", "1", "1")
    assert (second.isa_control, second.gs_control, second.st_control) == ("2", "2", "2")
    assert (third.isa_control, third.gs_control) == ("1", "1")

    parsed = read_interchange(bytes(first.body))  # strict: counts and control numbers must be right
    assert parsed.control_number == "000000001"
    assert parsed.receiver_id == po["supplier"].isa_id
    assert parsed.sender_id == "SCMCORE"
    order850 = map_850(next(parsed.transaction_sets("850")))
    assert order850.po_number == po["order"].number
    assert [(line.line_number, line.quantity, line.unit_price, line.product_ids) for line in order850.lines] == [
        ("1", Decimal(12), Decimal("1.25"), {"BP": po["a"], "VP": f"PA-{unique}"}),
        ("2", Decimal(5), Decimal(10), {"BP": po["b"]}),
    ]
    po["order"].refresh_from_db()
    assert po["order"].status == "SENT"
    sent = [e for e in read_stream(po["order"].stream) if e.type == "PurchaseOrderSent"]
    assert [(e.payload["interchange_control"], e.payload["outbound_message_id"]) for e in sent] == [(1, first.pk)]
    with pytest.raises(PurchaseOrderStateError):
        services.purchase_order_send(po_id=po["order"].pk)
    assert OutboundMessage.objects.filter(purchase_order=po["order"]).count() == 1


def test_acknowledgement_creates_inbound_supply_with_the_confirmed_date_and_changes_it(po, unique):
    services.purchase_order_send(po_id=po["order"].pk)
    order = po["order"]
    ack = {
        "document": "po_ack",
        "version": 1,
        "po_number": order.number,
        "lines": [
            {"line_number": 1, "status": "accepted", "qty": 2, "unit": "CA", "expected_date": "2026-03-01"},
            {"line_number": 2, "status": "rejected"},
        ],
    }
    message = apply_json(po["supplier"], ack)
    assert message.status == "APPLIED", message.errors
    assert inbound_of(po["a"]) == {f"PO-{order.number}/1": (12, date(2026, 3, 1))}  # 2 cases × 6
    assert inbound_of(po["b"]) == {}
    lines = {line.line_no: line for line in order.lines.all()}
    assert (lines[1].ack_status, lines[1].qty_confirmed) == (AckStatus.ACCEPTED, 12)
    assert (lines[2].ack_status, lines[2].qty_confirmed) == (AckStatus.REJECTED, 0)
    order.refresh_from_db()
    assert order.status == "ACKNOWLEDGED"

    change = {**ack, "lines": [{"line_number": 1, "status": "changed", "qty": 8, "expected_date": "2026-03-09"}]}
    assert apply_json(po["supplier"], change).status == "APPLIED"
    assert inbound_of(po["a"]) == {f"PO-{order.number}/1": (8, date(2026, 3, 9))}
    assert balance(po["a"], order.destination) == (0, 8)
    events = [e for e in read_stream(order.stream) if e.type == "PurchaseOrderAcknowledged"]
    assert [e.payload["lines"][0]["qty_confirmed"] for e in events] == [12, 8]
    assert events[1].payload["lines"][0]["status"] == "changed"


def test_ship_notice_moves_supply_to_the_asn_and_receiving_consumes_it(po, unique):
    services.purchase_order_send(po_id=po["order"].pk)
    order = po["order"]
    ack = {
        "document": "po_ack",
        "version": 1,
        "po_number": order.number,
        "lines": [
            {"line_number": 1, "status": "accepted", "expected_date": "2026-03-01"},
            {"line_number": 2, "status": "accepted", "expected_date": "2026-03-01"},
        ],
    }
    assert apply_json(po["supplier"], ack).status == "APPLIED"
    asn = interchange(
        po["supplier"].isa_id,
        9,
        [("856", asn_body(f"S-{unique}", order.number, [("1", f"PA-{unique}", 5)], delivery="20260220"))],
    )
    message = inbound.inbound_message_store(body=asn, source="api")
    assert inbound.inbound_message_process(message_id=message.pk).status == "APPLIED"
    asn_ref = f"ASN-{po['supplier'].code}-S-{unique}/1"
    assert inbound_of(po["a"]) == {
        asn_ref: (5, date(2026, 2, 20)),
        f"PO-{order.number}/1": (7, date(2026, 3, 1)),
    }
    assert balance(po["a"], order.destination) == (0, 12)  # still 12 inbound, split by date

    notice = ShipNotice.objects.get(supplier=po["supplier"], number=f"S-{unique}")
    services.ship_notice_receive(notice_id=notice.pk, lines={1: 3})
    order.refresh_from_db()
    assert order.status == "PARTIALLY_RECEIVED"
    assert balance(po["a"], order.destination) == (3, 9)
    assert inbound_of(po["a"]) == {asn_ref: (2, date(2026, 2, 20)), f"PO-{order.number}/1": (7, date(2026, 3, 1))}

    services.purchase_order_receive(po_id=order.pk)  # everything still expected: 9 of A, 5 of B
    order.refresh_from_db()
    assert order.status == "RECEIVED"
    assert balance(po["a"], order.destination) == (12, 0)
    assert balance(po["b"], order.destination) == (5, 0)
    assert inbound_of(po["a"]) == {}
    received = [e.payload for e in read_stream(order.stream) if e.type == "PurchaseOrderReceived"]
    assert [line["from_inbound"] for line in received[1]["lines"]] == [
        [{"inbound_reference": asn_ref, "qty": 2}, {"inbound_reference": f"PO-{order.number}/1", "qty": 7}],
        [{"inbound_reference": f"PO-{order.number}/2", "qty": 5}],
    ]
    with pytest.raises(PurchaseOrderStateError, match="is RECEIVED; it cannot be received"):
        services.purchase_order_receive(po_id=order.pk)
    services.purchase_order_close(po_id=order.pk)
    order.refresh_from_db()
    assert order.status == "CLOSED"


def test_partial_receipt_then_close_withdraws_what_is_still_expected(po):
    order = po["order"]
    services.purchase_order_send(po_id=order.pk)
    ack = {
        "document": "po_ack",
        "version": 1,
        "po_number": order.number,
        "lines": [{"line_number": 1, "status": "accepted", "expected_date": "2026-04-01"}],
    }
    assert apply_json(po["supplier"], ack).status == "APPLIED"
    services.purchase_order_receive(po_id=order.pk, lines={1: 4})
    order.refresh_from_db()
    assert order.status == "PARTIALLY_RECEIVED"
    assert balance(po["a"], order.destination) == (4, 8)
    with pytest.raises(ReceiptRefused, match="no line 9"):
        services.purchase_order_receive(po_id=order.pk, lines={9: 1})
    services.purchase_order_close(po_id=order.pk, reason="short shipped")
    assert balance(po["a"], order.destination) == (4, 0)
    closed = read_stream(order.stream)[-1]
    assert closed.type == "PurchaseOrderClosed"
    assert closed.payload["inbound_removed"] == [{"reference": f"PO-{order.number}/1", "sku": po["a"], "qty": 8}]


def test_cancel_withdraws_inbound_and_refuses_later_messages(po, unique):
    order = po["order"]
    services.purchase_order_send(po_id=order.pk)
    ack = {
        "document": "po_ack",
        "version": 1,
        "po_number": order.number,
        "lines": [{"line_number": 2, "status": "accepted", "expected_date": "2026-04-01"}],
    }
    assert apply_json(po["supplier"], ack).status == "APPLIED"
    assert balance(po["b"], order.destination) == (0, 5)
    services.purchase_order_cancel(po_id=order.pk, reason="not needed")
    assert balance(po["b"], order.destination) == (0, 0)
    late = apply_json(po["supplier"], {**ack, "ack_date": "2026-01-20"})
    assert late.status == "QUARANTINED"
    assert late.errors[0]["code"] == "purchase_order_state"
    assert late.errors[0]["message"] == (
        f"purchase order {order.number} is CANCELLED; a purchase order acknowledgement applies to SENT or "
        "ACKNOWLEDGED orders"
    )


def test_create_draft_for_the_replenishment_page(po):
    draft = services.purchase_order_create_draft(
        supplier=po["supplier"].code, destination=po["order"].destination, lines=[{"sku": po["a"], "qty": 30}]
    )
    assert draft.status == "DRAFT"
    assert draft.source == "replenishment"
    assert draft.number.startswith("R")
    assert [(line.sku, line.qty, line.unit_price) for line in draft.lines.all()] == [(po["a"], 30, Decimal("0.0000"))]


def test_an_order_rejected_without_detail_rejects_every_line(po, unique):
    from tests.integration.test_suppliers_setup import interchange as build

    services.purchase_order_send(po_id=po["order"].pk)
    body = build(po["supplier"].isa_id, 3, [("855", [f"BAK*00*RJ*{po['order'].number}*20260110"])])
    message = inbound.inbound_message_store(body=body, source="api")
    assert inbound.inbound_message_process(message_id=message.pk).status == "APPLIED"
    assert [(line.ack_status, line.ack_code, line.qty_confirmed) for line in po["order"].lines.all()] == [
        (AckStatus.REJECTED, "RJ", 0),
        (AckStatus.REJECTED, "RJ", 0),
    ]
    assert inbound_of(po["a"]) == {} and inbound_of(po["b"]) == {}
