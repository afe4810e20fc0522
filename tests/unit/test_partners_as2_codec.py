"""The AS2 codec on its own: every sign/encrypt combination round-trips byte-exact with the MIC the
receiver computes equal to the sender's; refusals carry the RFC 4130 disposition."""

from __future__ import annotations

import pytest

from partners.adapters.as2 import mdn, mime, smime
from partners.adapters.as2 import message as as2
from tests.partner_peers import OPENSSL, make_identity, openssl

PAYLOAD = b"ISA*00*          *00*~\nGS*PO*US*THEM~\nST*850*0001~\nSE*2*0001~\n\x00binary tail\xff"


@pytest.fixture(scope="module")
def stations(tmp_path_factory):
    folder = tmp_path_factory.mktemp("as2")
    ours, theirs = make_identity("us", folder), make_identity("them", folder)
    load = smime.load_certificate, smime.load_private_key
    us = as2.Station("US", "THEM", load[0](ours.cert_pem), load[1](ours.key_pem), load[0](theirs.cert_pem))
    them = as2.Station("THEM", "US", load[0](theirs.cert_pem), load[1](theirs.key_pem), load[0](ours.cert_pem))
    return us, them, theirs


@pytest.mark.parametrize(("sign", "encrypt"), [(True, True), (True, False), (False, True), (False, False)])
def test_every_combination_round_trips_byte_exact_with_matching_mics(stations, sign, encrypt):
    us, them, _ = stations
    options = as2.SendOptions(sign=sign, encrypt=encrypt, digest="sha384", encryption="aes128-cbc")
    built = as2.build_message(PAYLOAD, station=us, options=options, message_id="<m1@us>", filename="po.x12")

    opened = as2.open_message(built.headers, built.body, station=them, require_signature=False)

    assert opened.payload == PAYLOAD
    assert (opened.signed, opened.encrypted, opened.filename) == (sign, encrypt, "po.x12")
    assert (opened.mic, opened.micalg) == (built.mic, "sha-384")


def test_unsigned_or_unencrypted_messages_are_refused_when_required(stations):
    us, them, _ = stations
    plain = as2.build_message(
        PAYLOAD, station=us, options=as2.SendOptions(sign=False, encrypt=False), message_id="<m2@us>", filename="x"
    )
    with pytest.raises(as2.As2Refused) as refused:
        as2.open_message(plain.headers, plain.body, station=them, require_signature=True)
    assert refused.value.disposition == "insufficient-message-security"


def test_a_signature_by_another_key_is_an_authentication_failure(stations):
    us, them, _ = stations
    impostor = as2.Station("US", "THEM", them.our_certificate, them.our_key, them.partner_certificate)
    built = as2.build_message(
        PAYLOAD, station=impostor, options=as2.SendOptions(encrypt=False), message_id="<m3@us>", filename="x"
    )
    with pytest.raises(as2.As2Refused) as refused:
        as2.open_message(built.headers, built.body, station=them)
    assert refused.value.disposition == "authentication-failed"


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")
def test_3des_is_refused_as_a_decryption_failure(stations, tmp_path):
    us, them, theirs = stations
    enveloped = openssl("cms", "-encrypt", "-binary", "-des3", "-outform", "DER", str(theirs.cert_path), data=b"x")
    with pytest.raises(smime.DecryptionFailed, match="AES"):
        smime.decrypt(enveloped, certificate=them.our_certificate, key=them.our_key)


def test_an_unsigned_mdn_is_refused_when_a_signed_one_was_asked_for(stations):
    us, them, _ = stations
    receipt = mdn.build_mdn(station=them, original_message_id="<m4@us>", mic="abc", micalg="sha-256", sign=False)
    with pytest.raises(as2.As2Refused):
        mdn.open_mdn(receipt.headers, receipt.body, station=us, require_signature=True)
    opened = mdn.open_mdn(receipt.headers, receipt.body, station=us, require_signature=False)
    assert (opened.original_message_id, opened.mic, opened.processed) == ("m4@us", "abc", True)
    assert opened.confirms(mic="abc", micalg="sha256") and not opened.confirms(mic="abd", micalg="sha-256")


def test_an_error_mdn_is_read_as_a_refusal(stations):
    us, them, _ = stations
    receipt = mdn.build_mdn(station=them, original_message_id="<m5@us>", error="decryption-failed", sign=True)
    opened = mdn.open_mdn(receipt.headers, receipt.body, station=us, require_signature=True)
    assert (opened.processed, opened.error, opened.signed) == (False, "decryption-failed", True)


def test_multipart_parts_are_split_exactly_with_crlf_or_lf_delimiters():
    body = b"preamble\r\n--b\r\nA: 1\r\n\r\none\n\r\n--b\nB: 2\n\ntwo\n--b--\n"
    assert mime.split_multipart(body, "b") == [b"A: 1\r\n\r\none\n", b"B: 2\n\ntwo"]


def test_the_requested_mdn_is_read_from_the_headers():
    request = as2.mdn_request(
        {
            "disposition-notification-to": "x@y",
            "Disposition-Notification-Options": "signed-receipt-protocol=optional, pkcs7-signature; "
            "signed-receipt-micalg=optional, sha-512, sha1",
            "Receipt-Delivery-Option": "https://them/mdn",
        }
    )
    assert (request.mode, request.url, request.signed, request.digest("sha256")) == (
        "async",
        "https://them/mdn",
        True,
        "sha512",
    )
    assert as2.mdn_request({}).mode == "none"
