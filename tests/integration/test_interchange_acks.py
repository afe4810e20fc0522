"""TA1 through the inbound pipeline (issue 17 item 4), and the three faults the issue's fuzzing turned into
`internal_error` (item 5), each now quarantined naming its own element, with the acknowledgement it calls for."""

from __future__ import annotations

import pytest

from suppliers import inbound, services
from suppliers.adapters.x12 import map_997, read_interchange
from suppliers.models import IN, InboundMessage, OutboundKind, OutboundMessage
from suppliers.tasks import process_inbound_message
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db


@pytest.fixture
def trade(unique):
    supplier = make_supplier(unique, isa_qualifier="01")
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PA-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 10, "2.50")])
    return {"supplier": supplier, "part": f"PA-{unique}", "order": order}


def body(trade, control: int, *, ack: bool = False, **options) -> bytes:
    raw = interchange(
        trade["supplier"].isa_id,
        control,
        [("856", asn_body(f"T{control}", trade["order"].number, [("1", trade["part"], 4)]))],
        **options,
    )
    return raw.replace(b"*0*P*>", b"*1*P*>", 1) if ack else raw


def process(raw: bytes) -> InboundMessage:
    stored = inbound.inbound_message_store(body=raw, source="api")
    process_inbound_message.apply(args=[stored.pk])  # as production runs it: a crash would be internal_error
    message = InboundMessage.objects.get(pk=stored.pk)
    assert bytes(message.body) == raw
    return message


def replies(message: InboundMessage) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for reply in OutboundMessage.objects.filter(inbound_message=message).order_by("pk"):
        found.setdefault(reply.kind, []).append(bytes(reply.body))
    return found


def ta1(raw: bytes) -> str:
    lines = raw.decode().split("~\n")
    assert lines[2].startswith("IEA*0*")  # a TA1 travels alone: no functional group
    return lines[1]


def test_isa14_asks_for_a_ta1_and_gets_it_beside_the_997(trade):
    message = process(body(trade, 301, ack=True))
    assert message.status == IN.APPLIED, message.errors
    sent = replies(message)
    assert sorted(sent) == [OutboundKind.ACK_997, OutboundKind.ACK_TA1]
    assert ta1(sent[OutboundKind.ACK_TA1][0]) == "TA1*000000301*260115*1200*A*000"
    isa = read_interchange(sent[OutboundKind.ACK_TA1][0]).isa
    assert (isa.get(7).strip(), isa.get(8).strip()) == ("ZZ", trade["supplier"].isa_id)


def test_no_ta1_unless_asked_or_the_envelope_is_at_fault(trade):
    message = process(body(trade, 302))
    assert message.status == IN.APPLIED
    assert sorted(replies(message)) == [OutboundKind.ACK_997]


def test_an_iea02_mismatch_is_accepted_with_errors_and_a_duplicate_interchange_rejected(trade):
    raw = body(trade, 303, ack=True).replace(b"IEA*1*000000303", b"IEA*1*000000999")
    message = process(raw)
    assert message.status == IN.APPLIED
    assert ta1(replies(message)[OutboundKind.ACK_TA1][0]) == "TA1*000000303*260115*1200*E*001"
    again = process(raw.replace(b"~\n", b"~\r\n"))  # other bytes, same sender and ISA13
    assert (again.status, again.duplicate_of_id) == (IN.DUPLICATE, message.pk)
    assert ta1(replies(again)[OutboundKind.ACK_TA1][0]) == "TA1*000000303*260115*1200*R*025"


@pytest.mark.parametrize(
    ("mutate", "code", "element", "note"),
    [
        (lambda raw: raw[: raw.index(b"SE*")], "x12_truncated", None, "023"),
        (lambda raw: raw.replace(b"IEA*1*", b"IEA*2*"), "x12_group_count", "IEA01", "021"),
        (lambda raw: raw.replace(b"*260115*1200*U*", b"*260115*2599*U*"), "x12_invalid_time", "ISA10", "015"),
        (lambda raw: raw.replace(b"*1*P*>", b"*1*X*>"), "x12_invalid_value", "ISA15", "020"),
    ],
)
def test_envelope_faults_get_a_rejecting_ta1_with_the_right_note(trade, mutate, code, element, note):
    message = process(mutate(body(trade, 304, ack=True)))
    assert message.status == IN.QUARANTINED
    assert [(e["code"], e["element"]) for e in message.errors] == [(code, element)]
    assert ta1(replies(message)[OutboundKind.ACK_TA1][0]).endswith(f"*R*{note}")


def test_an_isa05_of_one_character_is_named_isa05_and_answered_by_a_ta1(trade):
    raw = body(trade, 305).replace(b"*ZZ*S", b"*Z*S", 1)
    message = process(raw)
    assert message.status == IN.QUARANTINED
    [error] = message.errors
    assert (error["code"], error["segment"], error["element"], error["value"]) == (
        "x12_invalid_value",
        "ISA",
        "ISA05",
        "Z",
    )
    assert error["message"] == "ISA05 'Z' is not the sender's id qualifier (2 characters)"
    [answer] = replies(message)[OutboundKind.ACK_TA1]
    assert ta1(answer) == "TA1*000000305*260115*1200*R*005"
    isa = read_interchange(answer).isa  # addressed with the supplier's own qualifier, since ISA05 is the fault
    assert (isa.get(7).strip(), isa.get(8).strip()) == ("01", trade["supplier"].isa_id)


def test_a_5000_digit_sn102_is_named_sn102_and_rejected_by_the_997(trade):
    raw = body(trade, 306).replace(b"SN1**4*EA", b"SN1**" + b"9" * 5000 + b"*EA")
    message = process(raw)
    assert message.status == IN.QUARANTINED
    [error] = message.errors
    assert (error["code"], error["element"], error["path"]) == ("x12_too_long", "SN102", "GS 1/ST 0001/SN1 #10")
    assert error["message"] == "SN102 has 5000 digits; an X12 number has at most 18"
    [ack] = replies(message)[OutboundKind.ACK_997]
    [set_ack] = map_997(next(read_interchange(ack).transaction_sets("997"))).sets
    [note] = set_ack.segments
    assert (set_ack.status, note.segment, note.ordinal, [(e.position, e.code) for e in note.elements]) == (
        "R",
        "SN1",
        10,
        [("2", "5")],
    )


def test_a_non_ascii_character_in_gs02_is_named_gs02_and_answered_by_a_ta1(trade):
    sender = trade["supplier"].isa_id.encode()
    raw = body(trade, 307).replace(b"GS*SH*" + sender, "GS*SH*Ä".encode() + sender, 1)
    message = process(raw)
    assert message.status == IN.QUARANTINED
    [error] = message.errors
    assert (error["code"], error["segment"], error["element"]) == ("x12_invalid_value", "GS", "GS02")
    assert error["message"] == f"GS02 'Ä{trade['supplier'].isa_id}' contains 'Ä', which is not printable ASCII"
    assert ta1(replies(message)[OutboundKind.ACK_TA1][0]) == "TA1*000000307*260115*1200*R*024"
