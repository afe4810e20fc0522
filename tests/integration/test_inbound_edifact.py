"""EDIFACT through the inbound pipeline, posted over the API: a DESADV raises inbound supply like an 856, an
ORDRSP acknowledges like an 855, an INVOIC is matched like an 810; a broken interchange is quarantined with
segment and element named and a CONTRL is stored for the sender; UNB09 = 1 gets a positive CONTRL."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from inventory import selectors as inventory_selectors
from scm.events.store import read_stream
from scm.roles import OPS
from suppliers import services
from suppliers.adapters.edifact import read_interchange
from suppliers.models import InboundMessage, OutboundKind, OutboundMessage, PurchaseOrderLine, SupplierInvoice
from tests.api.helpers import client_for
from tests.edifact import desadv_body, interchange, invoic_body, ordrsp_body
from tests.integration.test_suppliers_setup import item, make_order, make_supplier

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbound-messages/"


@pytest.fixture
def trade(unique):
    """A supplier known by its EDIFACT id (a GLN), SKUs A and B mapped from its article numbers, and a sent PO."""
    supplier = make_supplier(unique, edifact_id=f"54{int(unique, 16) % 10**11:011d}", formats=["edifact"])
    a, b = item(f"A-{unique}").sku, item(f"B-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PA-{unique}", sku=a)
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PB-{unique}", sku=b)
    order = make_order(unique, supplier, [(a, 10, "2.50"), (b, 4, "7.00")])
    return {
        "supplier": supplier,
        "gln": supplier.edifact_id,
        "a": a,
        "b": b,
        "pa": f"PA-{unique}",
        "pb": f"PB-{unique}",
        "order": order,
        "ops": client_for(f"ops-{unique}", OPS),
    }


def post(trade, body: bytes) -> dict:
    response = trade["ops"].post(URL, data=body, content_type="application/edifact")
    assert response.status_code == 202, response.content
    answer = response.json()
    assert bytes(InboundMessage.objects.get(pk=answer["id"]).body) == body  # stored byte-exact
    assert trade["ops"].get(f"{URL}{answer['id']}/raw/").content == body
    return answer


def asn_supply(trade) -> dict[str, tuple[int, date]]:
    prefix = f"ASN-{trade['supplier'].code}-"
    return {
        s.reference: (s.quantity, s.expected_date)
        for sku in (trade["a"], trade["b"])
        for s in inventory_selectors.inbound_for(sku=sku)
        if s.reference.startswith(prefix)
    }


def contrls(message_id: int) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(inbound_message_id=message_id, kind=OutboundKind.CONTRL))


def segments(body: bytes) -> list[str]:
    """The CONTRL read back with our own reader, as text segments without the envelope."""
    contrl = read_interchange(bytes(body))
    [message] = contrl.messages
    assert message.type == "CONTRL"
    return [
        "+".join([s.tag, *(":".join(e.repeats[0]) for e in s.elements)])
        for s in message.segments[1:-1]  # without UNH/UNT
    ]


def test_a_desadv_applies_through_the_api_and_raises_inbound_supply(trade, unique):
    body = interchange(
        trade["gln"],
        "70001",
        [
            (
                "DESADV",
                desadv_body(f"DN-{unique}", trade["order"].number, [("1", trade["pa"], "4"), ("2", trade["pb"], "3")]),
            )
        ],
    )
    answer = post(trade, body)
    assert (answer["status"], answer["format"], answer["errors"]) == ("APPLIED", "edifact", [])
    detail = trade["ops"].get(f"{URL}{answer['id']}/").json()
    assert (detail["supplier"], detail["document_types"], detail["interchange_control"]) == (
        trade["supplier"].code,
        ["DESADV"],
        "70001",
    )
    code = trade["supplier"].code
    assert asn_supply(trade) == {
        f"ASN-{code}-DN-{unique}/1": (4, date(2026, 1, 20)),
        f"ASN-{code}-DN-{unique}/2": (3, date(2026, 1, 20)),
    }
    [event] = [e for e in read_stream(trade["order"].stream) if e.type == "ShipNoticeReceived"]
    assert event.payload["ship_notice"] == f"DN-{unique}"
    assert [(line["qty"], line["sku"]) for line in event.payload["lines"]] == [(4, trade["a"]), (3, trade["b"])]
    assert contrls(answer["id"]) == []  # nothing wrong and no acknowledgement asked for (UNB09)


def test_any_una_is_honoured_release_characters_and_a_decimal_comma_included(trade, unique):
    body = interchange(
        trade["gln"],
        "70002",
        [("DESADV", desadv_body(f"D|N??{unique}", trade["order"].number, [("1", trade["pa"], "4.0")]))],
        una="|*,\\ ~",
    )
    assert b"D\\|N?" in body and b"QTY*12|4,0|PCE~" in body
    answer = post(trade, body)
    assert answer["status"] == "APPLIED", answer["errors"]
    assert asn_supply(trade) == {f"ASN-{trade['supplier'].code}-D|N?{unique}/1": (4, date(2026, 1, 20))}


def test_a_broken_desadv_is_quarantined_naming_segment_and_element_and_a_contrl_is_stored(trade, unique):
    good = desadv_body(f"DG-{unique}", trade["order"].number, [("1", trade["pa"], "2")])
    bad = desadv_body(f"DB-{unique}", trade["order"].number, [("1", trade["pa"], "2"), ("2", trade["pb"], "1,5")])
    body = interchange(trade["gln"], "70003", [("DESADV", good), ("DESADV", bad)])
    answer = post(trade, body)
    assert answer["status"] == "QUARANTINED"
    assert [(e["code"], e["segment"], e["element"], e["value"], e["path"]) for e in answer["errors"]] == [
        ("edifact_decimal_mark", "QTY", "QTY01-2", "1,5", "UNH 2/QTY #20")
    ]
    assert (
        answer["errors"][0]["message"] == "QTY01-2 '1,5' uses ',' as decimal mark; this interchange declares '.' (UNA3)"
    )
    assert asn_supply(trade) == {}  # not even the good message: an interchange applies whole
    [contrl] = contrls(answer["id"])
    assert segments(contrl.body) == [
        f"UCI+70003+{trade['gln']}:14+SCMCORE:14+7",
        "UCM+1+DESADV:D:96A:UN:EAN008+7",
        "UCM+2+DESADV:D:96A:UN:EAN008+4",
        "UCS+20",
        "UCD+19+2:2",
    ]
    sent = read_interchange(bytes(contrl.body))
    assert (sent.header.sender_id, sent.header.recipient_id, sent.control_reference) == (
        "SCMCORE",
        trade["gln"],
        contrl.isa_control,
    )
    [event] = read_stream(f"inbound-message-{answer['id']}")
    assert event.type == "SupplierMessageQuarantined"


def test_envelope_faults_get_a_contrl_rejecting_the_interchange_or_the_message(trade, unique):
    lines = [("1", trade["pa"], "2")]
    truncated = interchange(trade["gln"], "70004", [("DESADV", desadv_body(f"DT-{unique}", "PO-X", lines))])
    truncated = truncated[: truncated.index(b"CNT+2")]
    answer = post(trade, truncated)
    assert answer["status"] == "QUARANTINED"
    assert [(e["code"], e["segment"]) for e in answer["errors"]] == [("edifact_truncated", "UNT")]
    [contrl] = contrls(answer["id"])
    assert segments(contrl.body) == [f"UCI+70004+{trade['gln']}:14+SCMCORE:14+4+13"]

    message = desadv_body(f"DC-{unique}", trade["order"].number, lines)
    miscounted = interchange(trade["gln"], "70005", [("DESADV", message)], unt_delta=2)
    answer = post(trade, miscounted)
    declared = str(len(message) + 2 + 2)
    assert [(e["code"], e["element"], e["value"]) for e in answer["errors"]] == [
        ("edifact_segment_count", "UNT01", declared)
    ]
    [contrl] = contrls(answer["id"])
    assert segments(contrl.body) == [
        f"UCI+70005+{trade['gln']}:14+SCMCORE:14+7",
        "UCM+1+DESADV:D:96A:UN:EAN008+4+29+UNT+2",
    ]


def test_unb09_asks_for_a_positive_contrl(trade, unique):
    body = interchange(
        trade["gln"],
        "70006",
        [("DESADV", desadv_body(f"DA-{unique}", trade["order"].number, [("1", trade["pa"], "1")]))],
        ack=True,
    )
    answer = post(trade, body)
    assert answer["status"] == "APPLIED", answer["errors"]
    [contrl] = contrls(answer["id"])
    assert segments(contrl.body) == [
        f"UCI+70006+{trade['gln']}:14+SCMCORE:14+7",
        "UCM+1+DESADV:D:96A:UN:EAN008+7",
    ]
    again = post(trade, body.replace(b"\r\n", b"\n"))  # other bytes, same UNB05: a duplicate interchange
    assert again["status"] == "DUPLICATE"
    assert InboundMessage.objects.get(pk=again["id"]).duplicate_of_id == answer["id"]
    [duplicate] = contrls(again["id"])
    assert segments(duplicate.body)[0] == f"UCI+70006+{trade['gln']}:14+SCMCORE:14+4+26+UNB+6"


def test_an_ordrsp_acknowledges_the_purchase_order(trade, unique):
    body = interchange(
        trade["gln"],
        "70007",
        [
            (
                "ORDRSP",
                ordrsp_body(
                    f"R-{unique}", trade["order"].number, [("1", "6", trade["pa"], "8"), ("2", "7", trade["pb"], "0")]
                ),
            )
        ],
    )
    answer = post(trade, body)
    assert answer["status"] == "APPLIED", answer["errors"]
    lines = {
        line.line_no: (line.ack_status, line.ack_code, line.qty_confirmed, line.expected_date)
        for line in PurchaseOrderLine.objects.filter(purchase_order=trade["order"])
    }
    assert lines == {1: ("changed", "IC", 8, date(2026, 1, 25)), 2: ("rejected", "IR", 0, None)}
    assert [e.type for e in read_stream(trade["order"].stream)][-1] == "PurchaseOrderAcknowledged"
    a_supply = {s.reference: s.quantity for s in inventory_selectors.inbound_for(sku=trade["a"])}
    assert a_supply[f"PO-{trade['order'].number}/1"] == 8


def test_an_invoic_is_matched_like_an_810(trade, unique):
    body = interchange(
        trade["gln"],
        "70008",
        [
            (
                "INVOIC",
                invoic_body(
                    f"I-{unique}",
                    trade["order"].number,
                    [("1", trade["pa"], "10", "2.50"), ("2", trade["pb"], "4", "7.00")],
                    total="63.03",
                    lines_total="53.00",
                    tax="10.03",
                ),
            )
        ],
    )
    answer = post(trade, body)
    assert answer["status"] == "APPLIED", answer["errors"]
    invoice = SupplierInvoice.objects.get(supplier=trade["supplier"], number=f"I-{unique}")
    assert (invoice.total, invoice.invoice_date, invoice.purchase_order_id) == (
        Decimal("63.03"),
        date(2026, 1, 20),
        trade["order"].pk,
    )
    # Tax on top of the lines counts as a charge (MOA 77 − MOA 79), so the total agrees with the lines; the
    # only findings are that nothing was received yet.
    assert (invoice.match["charges"], invoice.match["findings"]) == (
        "10.0300",
        [f"line 1 ({trade['a']}): invoiced 10 but received 0", f"line 2 ({trade['b']}): invoiced 4 but received 0"],
    )
    assert [e.type for e in read_stream(trade["order"].stream)][-1] == "SupplierInvoiced"


def test_unknown_sender_and_unsupported_messages_are_quarantined_precisely(trade, unique):
    stranger = interchange("4000000000001", "70009", [("DESADV", desadv_body("X", "PO-X", [("1", "P", "1")]))])
    answer = post(trade, stranger)
    assert [(e["code"], e["segment"], e["element"], e["value"]) for e in answer["errors"]] == [
        ("unknown_sender", "UNB", "UNB02-1", "4000000000001")
    ]
    assert answer["errors"][0]["message"].startswith("UNB02-1 '4000000000001' (qualifier 14) is not the EDIFACT id")
    assert contrls(answer["id"]) == []  # nobody to address it to

    orders = interchange(trade["gln"], "70010", [("ORDERS", ["BGM+220+O-1+9", "DTM+137:20260115:102"])])
    answer = post(trade, orders)
    assert [(e["code"], e["element"], e["value"]) for e in answer["errors"]] == [
        ("unsupported_document", "UNH02-1", "ORDERS")
    ]
    old = interchange(trade["gln"], "70011", [("DESADV", desadv_body("O", "PO-X", [("1", "P", "1")]))], release="93A")
    answer = post(trade, old)
    assert [(e["code"], e["value"]) for e in answer["errors"]] == [("unsupported_version", "D:93A")]


def test_the_edifact_id_is_set_over_the_api_and_is_unique(trade, unique):
    url = f"/api/v1/suppliers/{trade['supplier'].code}/"
    changed = trade["ops"].patch(url, {"edifact_id": f"GLN{unique}", "formats": ["edifact", "x12"]}, format="json")
    assert changed.status_code == 200, changed.content
    assert (changed.json()["edifact_id"], changed.json()["formats"]) == (f"GLN{unique}", ["edifact", "x12"])
    other = trade["ops"].post(
        "/api/v1/suppliers/", {"code": f"OTHER-{unique}", "name": "Other", "edifact_id": f"GLN{unique}"}, format="json"
    )
    assert other.status_code == 409, other.content
