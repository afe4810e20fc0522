"""AS2 both ways against a second station on loopback: an HTTP server that opens our messages and
signs its MDNs and messages with OpenSSL's `cms` command (an S/MIME implementation that is not ours),
with its own key pair. We are served over real HTTP too (a WSGI server thread), so the partner's
messages and asynchronous MDNs travel as they would in production."""

from __future__ import annotations

import pytest
import requests

from partners import services as outbox
from partners import transmit
from partners.adapters.as2 import mime
from partners.connections import partner_connection_save
from partners.models import OUT, As2Direction, As2Message, As2Status
from scm.events.store import read_stream
from suppliers.models import InboundMessage, ShipNotice
from tests.partner_peers import OPENSSL, DjangoServer, OpenSslAs2Partner, make_identity
from tests.partner_trade import TEST_SECRETS_KEY, asn_for, event_types, make_trade, send_order

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command (the partner station uses it)"),
]


@pytest.fixture(autouse=True)
def transport_settings(settings):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False  # tests drive the sends
    settings.PARTNER_TIMEOUT_SECONDS = 20
    settings.PARTNER_MAX_ATTEMPTS = 3


@pytest.fixture
def us(committed_db):
    server = DjangoServer()
    yield server
    server.close()


@pytest.fixture
def station(tmp_path, unique, us, settings):
    """Our side (a supplier, a PO, an AS2 connection) and the partner's station."""
    ours = make_identity("us", tmp_path / "us")
    partner = OpenSslAs2Partner(
        tmp_path / "partner", as2_id=f"PARTNER-{unique}", our_as2_id=f"US-{unique}", our_cert_pem=ours.cert_pem
    )
    trade = make_trade(unique)
    partner_connection_save(
        supplier=trade.supplier.code,
        secrets_given={"as2_private_key": ours.key_pem},
        protocol="as2",
        as2_our_id=f"US-{unique}",
        as2_partner_id=f"PARTNER-{unique}",
        as2_url=partner.url,
        as2_our_certificate=ours.cert_pem,
        as2_partner_certificate=partner.identity.cert_pem,
    )
    settings.PARTNER_AS2_BASE_URL = us.url
    yield trade, partner
    partner.close()


def content_payload(content: bytes) -> bytes:
    return mime.parse_entity(content).decoded_body()


def test_our_850_arrives_signed_and_encrypted_and_only_a_good_signed_mdn_delivers_it(station):
    trade, partner = station
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED

    [got] = partner.received
    assert content_payload(got["content"]) == bytes(entry.document.body)  # OpenSSL decrypted and verified it
    record = As2Message.objects.get(outbox_entry=entry, direction=As2Direction.OUT)
    assert (record.status, record.mdn_signed, record.mic) == (As2Status.ACCEPTED, True, got["mic"])
    assert record.mdn_disposition.endswith("processed")
    assert bytes(record.mdn_body)  # the MDN is kept with the message
    assert event_types(trade.order.stream)[-5:] == [
        "PurchaseOrderSent",
        "PartnerDocumentQueued",
        "PartnerDocumentTransmitted",
        "PartnerMdnReceived",
        "PartnerDocumentDelivered",
    ]


def test_a_negative_mdn_dead_letters_the_document(station):
    trade, partner = station
    partner.mdn_disposition = "automatic-action/MDN-sent-automatically; processed/error: decryption-failed"
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD

    entry.refresh_from_db()
    assert "refused the message" in entry.last_error and "decryption-failed" in entry.last_error
    [mdn] = [e for e in read_stream(trade.order.stream) if e.type == "PartnerMdnReceived"]
    assert (mdn.payload["good"], mdn.payload["signed"]) == (False, True)


def test_an_mdn_with_another_mic_does_not_count_as_delivery(station):
    trade, partner = station
    partner.mic_override = "bm90IG91ciBtaWM="
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD

    entry.refresh_from_db()
    assert "the MIC in the MDN (bm90IG91ciBtaWM=, sha-256) is not ours" in entry.last_error
    assert As2Message.objects.get(outbox_entry=entry).status == As2Status.REFUSED


def test_an_asynchronous_mdn_posted_to_our_endpoint_delivers_it(station, us):
    trade, partner = station
    partner_connection_save(supplier=trade.supplier.code, as2_mdn_mode="async")
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.AWAITING_MDN
    assert partner.async_mdn_url == f"{us.url}/as2/mdn/"

    headers, body = partner.pending_mdn
    answer = requests.post(partner.async_mdn_url, data=body, headers=headers, timeout=20)

    assert answer.status_code == 200, answer.text
    assert answer.json()["good"] is True
    entry.refresh_from_db()
    assert entry.status == OUT.DELIVERED


def test_their_856_is_verified_decrypted_stored_byte_exact_applied_and_answered(station, us, unique):
    trade, partner = station
    send_order(trade)
    asn = asn_for(trade, f"S-{unique}", 901)
    headers, body = partner.build(asn, message_id=f"<asn-{unique}@partner>")

    answer = requests.post(f"{us.url}/as2/", data=body, headers=headers, timeout=30)

    assert answer.status_code == 200
    report = partner.verify_mdn(dict(answer.headers), answer.content)  # our MDN checks out with OpenSSL
    assert b"Disposition: automatic-action/MDN-sent-automatically; processed\r\n" in report
    assert f"Received-Content-MIC: {partner.sent_mic}, sha-256".encode() in report
    record = As2Message.objects.get(direction=As2Direction.IN, message_id=f"asn-{unique}@partner")
    assert (record.status, record.signed, record.encrypted) == (As2Status.ACCEPTED, True, True)
    assert bytes(record.body) == body
    message = record.inbound_message
    assert (bytes(message.body), message.source, message.status) == (asn, "as2", "APPLIED")
    assert ShipNotice.objects.filter(supplier=trade.supplier, number=f"S-{unique}").exists()

    again = requests.post(f"{us.url}/as2/", data=body, headers=headers, timeout=30)  # their resend
    assert again.content == answer.content
    assert InboundMessage.objects.filter(supplier=trade.supplier, source="as2").count() == 1


def test_a_partner_asking_for_an_asynchronous_mdn_gets_it_posted(station, us, unique):
    trade, partner = station
    send_order(trade)
    headers, body = partner.build(
        asn_for(trade, f"S-{unique}", 903),
        message_id=f"<async-{unique}@partner>",
        mdn="async",
        receipt_url=partner.url + "/mdn",
    )

    answer = requests.post(f"{us.url}/as2/", data=body, headers=headers, timeout=30)

    assert (answer.status_code, answer.content) == (200, b"")
    [(mdn_headers, mdn_body)] = partner.mdns
    assert mdn_headers["AS2-From"] == f"US-{unique}" and mdn_headers["AS2-To"] == f"PARTNER-{unique}"
    report = partner.verify_mdn(mdn_headers, mdn_body)
    assert f"Original-Message-ID: <async-{unique}@partner>".encode() in report
    assert f"Received-Content-MIC: {partner.sent_mic}, sha-256".encode() in report


@pytest.mark.parametrize(
    ("how", "disposition"),
    [("tampered", "integrity-check-failed"), ("wrong_recipient", "decryption-failed")],
)
def test_a_bad_message_is_refused_with_its_disposition_kept_and_never_applied(station, us, unique, how, disposition):
    trade, partner = station
    send_order(trade)
    asn = asn_for(trade, f"S-{unique}", 902, qty=4)
    options = (
        {"tamper": (b"SN1**4*EA", b"SN1**9*EA")} if how == "tampered" else {"encrypt_for": partner.identity.cert_path}
    )
    headers, body = partner.build(asn, message_id=f"<bad-{unique}@partner>", **options)

    answer = requests.post(f"{us.url}/as2/", data=body, headers=headers, timeout=30)

    assert answer.status_code == 200
    report = partner.verify_mdn(dict(answer.headers), answer.content)
    assert f"processed/error: {disposition}".encode() in report
    record = As2Message.objects.get(direction=As2Direction.IN, message_id=f"bad-{unique}@partner")
    assert record.status == As2Status.REFUSED and record.error.startswith(disposition)
    assert bytes(record.body) == body  # kept for inspection
    assert record.inbound_message is None
    assert not InboundMessage.objects.filter(supplier=trade.supplier, source="as2").exists()
    assert not ShipNotice.objects.filter(supplier=trade.supplier).exists()
    [refused] = [e for e in read_stream(f"partner-{trade.supplier.code}") if e.type == "PartnerMessageRefused"]
    assert refused.payload["disposition"] == disposition


def test_an_unknown_sender_is_refused_and_nothing_is_stored(station, us, unique):
    trade, partner = station
    headers, body = partner.build(b"ISA*junk~", message_id=f"<stranger-{unique}@x>")
    headers["AS2-From"] = f"STRANGER-{unique}"

    answer = requests.post(f"{us.url}/as2/", data=body, headers=headers, timeout=30)

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "as2_unknown_partner"
    assert not As2Message.objects.filter(message_id=f"stranger-{unique}@x").exists()


__all__ = ["outbox"]
