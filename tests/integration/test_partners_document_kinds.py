"""Every outbound document we build goes out: supplier messages run through the real inbound pipeline
(the `process_inbound_message` task), the replies it builds (997, 824, TA1, CONTRL) are queued by the
`partners.outbox` subscription following the event log (or, for a duplicate, which appends no event,
by the beat sweep), and each goes out over its supplier's connection, labelled by its format: X12 as
`application/edi-x12`, EDIFACT as `application/edifact` (`.edi` on SFTP, the AS2 payload's type)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from partners import tasks, transmit
from partners.adapters.as2 import mime
from partners.connections import partner_connection_save
from partners.models import OUT, OutboxEntry
from scm.events import subscriptions
from suppliers import inbound, services
from suppliers.models import IN, InboundMessage, OutboundKind, OutboundMessage
from suppliers.tasks import process_inbound_message
from tests.edifact import desadv_body
from tests.edifact import interchange as edifact_interchange
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier
from tests.partner_peers import OPENSSL, OpenSslAs2Partner, SftpServer, make_identity
from tests.partner_trade import TEST_SECRETS_KEY, sftp_connection

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def transport_settings(settings):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False  # the tests send what the subscription queued
    settings.PARTNER_CONNECT_TIMEOUT_SECONDS = 5
    settings.PARTNER_TIMEOUT_SECONDS = 20


@pytest.fixture
def trade(unique):
    """A supplier known by its X12 and EDIFACT ids, an item mapped from its part number, a sent PO
    (sent before any connection existed: its 850 is not what these tests send)."""
    supplier = make_supplier(
        unique, edifact_id=f"54{int(unique, 16) % 10**11:011d}", formats=["x12", "edifact"], isa_qualifier="01"
    )
    sku = item(f"K-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PK-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 10, "2.50")])
    return {"supplier": supplier, "part": f"PK-{unique}", "order": order}


def https_partner(trade, httpserver) -> None:
    httpserver.expect_request("/edi", method="POST").respond_with_data("ok")
    partner_connection_save(supplier=trade["supplier"].code, protocol="https", https_url=httpserver.url_for("/edi"))


def asn(trade, control: int, *, part: str | None = None, ack: bool = False) -> bytes:
    body = asn_body(f"K{control}", trade["order"].number, [("1", part or trade["part"], 4)])
    raw = interchange(trade["supplier"].isa_id, control, [("856", body)])
    return raw.replace(b"*0*P*>", b"*1*P*>", 1) if ack else raw  # ISA14 = 1: a TA1 is asked for


def through_the_pipeline(raw: bytes) -> InboundMessage:
    stored = inbound.inbound_message_store(body=raw, source="api")
    process_inbound_message.apply(args=[stored.pk])
    return InboundMessage.objects.get(pk=stored.pk)


def follow_the_log() -> None:
    """Run the `partners.outbox` subscription over the log, as the dispatcher does."""
    [subscriber] = [s for s in subscriptions.registered() if s.name == "partners.outbox"]
    while subscriptions.process(subscriber).handled:
        pass


def queued_for(message: InboundMessage) -> dict[str, OutboxEntry]:
    entries = OutboxEntry.objects.filter(document__inbound_message=message).select_related("document")
    return {entry.kind: entry for entry in entries}


def kinds_built(message: InboundMessage) -> list[str]:
    return sorted(OutboundMessage.objects.filter(inbound_message=message).values_list("kind", flat=True))


def test_an_856_asking_for_a_ta1_gets_its_ta1_and_997_queued_and_posted_as_x12(trade, httpserver):
    https_partner(trade, httpserver)
    message = through_the_pipeline(asn(trade, 501, ack=True))
    assert message.status == IN.APPLIED, message.errors
    assert kinds_built(message) == [OutboundKind.ACK_997, OutboundKind.ACK_TA1]

    follow_the_log()
    entries = queued_for(message)
    assert sorted(entries) == [OutboundKind.ACK_997, OutboundKind.ACK_TA1]
    assert {(e.status, e.protocol) for e in entries.values()} == {(OUT.QUEUED, "https")}

    for kind in (OutboundKind.ACK_TA1, OutboundKind.ACK_997):
        assert transmit.outbox_entry_transmit(entry_id=entries[kind].pk) == OUT.DELIVERED
    posted = [(request.headers["Content-Type"], request.get_data()) for request, _ in httpserver.log]
    assert posted == [
        ("application/edi-x12", bytes(entries[OutboundKind.ACK_TA1].document.body)),
        ("application/edi-x12", bytes(entries[OutboundKind.ACK_997].document.body)),
    ]
    assert b"TA1*000000501*" in posted[0][1]


def test_a_quarantined_856_gets_its_997_and_824_queued(trade, httpserver):
    https_partner(trade, httpserver)
    message = through_the_pipeline(asn(trade, 502, part="NOT-OURS"))
    assert message.status == IN.QUARANTINED
    assert kinds_built(message) == [OutboundKind.ADVICE_824, OutboundKind.ACK_997]

    follow_the_log()
    entries = queued_for(message)
    assert sorted(entries) == [OutboundKind.ADVICE_824, OutboundKind.ACK_997]
    assert transmit.outbox_entry_transmit(entry_id=entries[OutboundKind.ADVICE_824].pk) == OUT.DELIVERED
    [(request, _)] = httpserver.log
    assert request.get_data() == bytes(entries[OutboundKind.ADVICE_824].document.body)


def broken_desadv(trade, control: str) -> bytes:
    body = desadv_body(f"D{control}", trade["order"].number, [("1", trade["part"], "4")])
    return edifact_interchange(trade["supplier"].edifact_id, control, [("DESADV", body)], unt_delta=2)


def test_a_broken_edifact_interchange_gets_its_contrl_queued_and_written_as_edi_over_sftp(trade, tmp_path):
    (tmp_path / "partner" / "inbox").mkdir(parents=True)
    server = SftpServer(tmp_path / "partner")
    try:
        sftp_connection(SimpleNamespace(supplier=trade["supplier"]), server, sftp_outbox_path="")
        message = through_the_pipeline(broken_desadv(trade, "70601"))
        assert message.status == IN.QUARANTINED
        assert kinds_built(message) == [OutboundKind.CONTRL]

        follow_the_log()
        entry = queued_for(message)[OutboundKind.CONTRL]
        assert (entry.status, entry.protocol) == (OUT.QUEUED, "sftp")
        assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED
        entry.refresh_from_db()
    finally:
        server.close()
    assert entry.remote_name == f"CONTRL_{entry.document.isa_control.zfill(9)}_{entry.pk}.edi"
    written = (server.root / "inbox" / entry.remote_name).read_bytes()
    assert written == bytes(entry.document.body) and written.startswith(b"UNA") and b"UNH+" in written


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command (the partner station uses it)")
def test_a_contrl_over_as2_is_an_edifact_payload_delivered_with_a_good_mdn(trade, tmp_path, unique):
    ours = make_identity("us", tmp_path / "us")
    partner = OpenSslAs2Partner(
        tmp_path / "partner", as2_id=f"P-{unique}", our_as2_id=f"US-{unique}", our_cert_pem=ours.cert_pem
    )
    try:
        partner_connection_save(
            supplier=trade["supplier"].code,
            secrets_given={"as2_private_key": ours.key_pem},
            protocol="as2",
            as2_our_id=f"US-{unique}",
            as2_partner_id=f"P-{unique}",
            as2_url=partner.url,
            as2_our_certificate=ours.cert_pem,
            as2_partner_certificate=partner.identity.cert_pem,
        )
        message = through_the_pipeline(broken_desadv(trade, "70602"))
        follow_the_log()
        entry = queued_for(message)[OutboundKind.CONTRL]
        assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED
    finally:
        partner.close()
    [got] = partner.received
    payload = mime.parse_entity(got["content"])
    assert payload.content_type == "application/edifact"
    assert f'filename="CONTRL_{entry.document.isa_control}.edi"' in payload.headers["Content-Disposition"]
    assert payload.decoded_body() == bytes(entry.document.body)


def test_the_replies_to_a_duplicate_interchange_are_queued_and_sent_by_the_beat_sweep(trade, httpserver):
    https_partner(trade, httpserver)
    first = through_the_pipeline(asn(trade, 503, ack=True))
    again = through_the_pipeline(asn(trade, 503, ack=True).replace(b"~\n", b"~\r\n"))  # same ISA13, other bytes
    assert (first.status, again.status) == (IN.APPLIED, IN.DUPLICATE)
    assert kinds_built(again) == [OutboundKind.ACK_997, OutboundKind.ACK_TA1]

    follow_the_log()  # a duplicate appends no event: the subscription cannot see its replies
    assert queued_for(again) == {}
    # The beat task: queues what no event named, then sends what is due. It leaves documents younger than a
    # minute to the subscription, so it runs a minute later.
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        tasks.send_due_documents.apply()
    entries = queued_for(again)
    assert sorted(entries) == [OutboundKind.ACK_997, OutboundKind.ACK_TA1]
    assert {OutboxEntry.objects.get(pk=e.pk).status for e in entries.values()} == {OUT.DELIVERED}
    sent = [request.get_data() for request, _ in httpserver.log]
    ta1 = bytes(entries[OutboundKind.ACK_TA1].document.body)
    assert ta1 in sent and b"*R*025~" in ta1
