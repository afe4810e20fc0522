"""Inbound messages over the API: every bad input of issue 6 ends QUARANTINED with a precise reason (or 413),
and every stored message keeps its bytes exactly (`/raw/` and `sha256` prove it). Supplier-bound tokens see
only their own messages."""

from __future__ import annotations

import hashlib
import json

import pytest
from rest_framework.test import APIClient

from inventory import selectors as inventory_selectors
from scm.roles import INTEGRATION, OPS, PLANNER
from suppliers import services
from suppliers.models import InboundMessage, OutboundMessage
from tests.api.helpers import client_for
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbound-messages/"


@pytest.fixture
def trade(unique):
    """A supplier with an X12 id, SKU A mapped from part P-<unique>, and PO-<unique> (10 × A) sent to it."""
    supplier = make_supplier(unique)
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"P-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 10, "2.50")])
    return {
        "supplier": supplier,
        "sku": sku,
        "part": f"P-{unique}",
        "order": order,
        "client": client_for(f"int-{unique}", INTEGRATION, supplier.code),
        "ops": client_for(f"ops-{unique}", OPS),
    }


def post(client: APIClient, body: bytes, content_type: str = "application/octet-stream", **query) -> dict:
    url = URL + (f"?supplier={query['supplier']}" if "supplier" in query else "")
    response = client.post(url, data=body, content_type=content_type)
    assert response.status_code == 202, response.content
    return response.json()


def assert_kept(client: APIClient, message_id: int, body: bytes) -> dict:
    """The message is stored byte-exact: /raw/ returns the very bytes, sha256 and size describe them."""
    raw = client.get(f"{URL}{message_id}/raw/")
    assert raw.status_code == 200
    assert raw.content == body
    assert raw["Content-Type"] == "application/octet-stream"
    assert raw["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    detail = client.get(f"{URL}{message_id}/").json()
    assert detail["sha256"] == hashlib.sha256(body).hexdigest()
    assert detail["size"] == len(body)
    assert bytes(InboundMessage.objects.get(pk=message_id).body) == body
    return detail


def inbound_refs(sku: str) -> list[tuple[str, int]]:
    return sorted(inventory_selectors.inbound_for(sku=sku).values_list("reference", "quantity"))


def test_a_valid_856_is_applied_answers_202_and_gets_a_997(trade, unique):
    body = interchange(
        trade["supplier"].isa_id,
        41,
        [("856", asn_body(f"SH-{unique}", trade["order"].number, [("1", trade["part"], 4)]))],
    )
    accepted = post(trade["client"], body, "application/edi-x12")
    assert accepted["status"] == "APPLIED"
    assert accepted["format"] == "x12"
    assert accepted["errors"] == []
    detail = assert_kept(trade["client"], accepted["id"], body)
    assert detail["supplier"] == trade["supplier"].code
    assert detail["document_types"] == ["856"]
    assert detail["interchange_control"] == "000000041"
    assert [r["kind"] for r in detail["responses"]] == ["997"]
    asn_ref = f"ASN-{trade['supplier'].code}-SH-{unique}/1"
    assert inbound_refs(trade["sku"]) == [(asn_ref, 4)]


BAD_X12 = {
    "truncated interchange": (
        lambda t, u: interchange(
            t["supplier"].isa_id,
            51,
            [("856", asn_body(f"T-{u}", t["order"].number, [("1", t["part"], 4)]))],
            truncate_after="LIN*1*VP*",
        ),
        {"code": "x12_truncated", "kind": "syntax", "segment": None, "element": None, "value": None},
    ),
    "wrong control counts": (
        lambda t, u: interchange(
            t["supplier"].isa_id,
            52,
            [("856", asn_body(f"C-{u}", t["order"].number, [("1", t["part"], 4)]))],
            se_count_delta=3,
        ),
        {
            "code": "x12_segment_count",
            "kind": "syntax",
            "segment": "SE",
            "element": "SE01",
            "value": "15",
            "message": "SE01 '15' does not match the 12 segments counted in set 0001",
        },
    ),
    "unknown supplier part number": (
        lambda t, u: interchange(
            t["supplier"].isa_id, 53, [("856", asn_body(f"U-{u}", t["order"].number, [("1", "NO-SUCH-PART", 4)]))]
        ),
        {"code": "unknown_supplier_part", "kind": "business", "segment": "LIN", "value": "NO-SUCH-PART"},
    ),
    "a date in another format": (
        lambda t, u: interchange(
            t["supplier"].isa_id,
            54,
            [("856", asn_body(f"D-{u}", t["order"].number, [("1", t["part"], 4)], delivery="01/20/2026"))],
        ),
        {
            "code": "x12_invalid_date",
            "kind": "syntax",
            "segment": "DTM",
            "element": "DTM02",
            "value": "01/20/2026",
            "message": "DTM02 '01/20/2026' is not a CCYYMMDD date",
        },
    ),
    "a quantity that is not a number": (
        lambda t, u: interchange(
            t["supplier"].isa_id,
            55,
            [
                (
                    "856",
                    [
                        s.replace("SN1**4*", "SN1**ten*")
                        for s in asn_body(f"Q-{u}", t["order"].number, [("1", t["part"], 4)])
                    ],
                )
            ],
        ),
        {
            "code": "x12_not_a_number",
            "kind": "syntax",
            "segment": "SN1",
            "element": "SN102",
            "value": "ten",
            "message": "SN102 'ten' is not a number",
        },
    ),
    "an 856 for an unknown PO": (
        lambda t, u: interchange(
            t["supplier"].isa_id, 56, [("856", asn_body(f"P-{u}", f"NOPO-{u}", [("1", t["part"], 4)]))]
        ),
        {"code": "unknown_purchase_order", "kind": "business", "segment": "PRF", "element": "PRF01"},
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_X12))
def test_bad_x12_is_quarantined_precisely_and_kept_byte_exact(trade, unique, case):
    build, expected = BAD_X12[case]
    body = build(trade, unique)
    before = inbound_refs(trade["sku"])
    accepted = post(trade["client"], body, "application/edi-x12")
    assert accepted["status"] == "QUARANTINED"
    error = accepted["errors"][0]
    assert {key: error[key] for key in expected} == expected
    detail = assert_kept(trade["client"], accepted["id"], body)
    assert detail["errors"] == accepted["errors"]
    assert inbound_refs(trade["sku"]) == before  # nothing of it was applied
    if case == "an 856 for an unknown PO":
        assert error["value"] == f"NOPO-{unique}"
        assert error["message"] == (
            f"GS 1/ST 0001/HL 3: purchase order 'NOPO-{unique}' does not exist for supplier {trade['supplier'].code}"
        )


def test_unknown_sender_is_quarantined_with_the_isa06_value(trade, unique):
    body = interchange(f"NOBODY{unique}"[:15], 57, [("856", asn_body(f"N-{unique}", "PO-X", [("1", "P", 1)]))])
    accepted = post(trade["ops"], body, "application/edi-x12")
    assert accepted["status"] == "QUARANTINED"
    assert accepted["errors"] == [
        {
            "code": "unknown_sender",
            "message": f"ISA06 '{f'NOBODY{unique}'[:15]}' (qualifier ZZ) is not the X12 id of any supplier; "
            "set the supplier's isa_id and reprocess",
            "kind": "business",
            "segment": "ISA",
            "element": "ISA06",
            "value": f"NOBODY{unique}"[:15],
            "path": "ISA",
        }
    ]
    assert_kept(trade["ops"], accepted["id"], body)
    assert OutboundMessage.objects.filter(inbound_message_id=accepted["id"]).count() == 0  # no partner, no 997


def test_empty_body_is_quarantined_and_kept(trade):
    accepted = post(trade["client"], b"")
    assert accepted["status"] == "QUARANTINED"
    assert accepted["format"] == "unknown"
    assert accepted["errors"][0]["code"] == "empty"
    assert accepted["sha256"] == hashlib.sha256(b"").hexdigest()
    assert_kept(trade["client"], accepted["id"], b"")


def test_non_utf8_json_and_csv_and_binary_are_quarantined_and_kept(trade, unique):
    cases = [
        (b'{"document": "asn", "version": 1, "shipment_id": "\xff\xfe"}', "application/json", "not_utf8", "0xFF"),
        (b"document,version,shipment_id\nasn,1,\xe9t\xe9\n", "text/csv", "not_utf8", "0xE9"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "unrecognised_format", "\\x89PNG\\x0d\\x0a\\x1a\\x0a"),
    ]
    for body, content_type, code, value in cases:
        accepted = post(trade["client"], body, content_type)
        assert accepted["status"] == "QUARANTINED", body
        assert accepted["errors"][0]["code"] == code
        assert accepted["errors"][0]["value"].startswith(value)
        assert_kept(trade["client"], accepted["id"], body)


def test_json_and_csv_schema_violations_name_the_schema_path(trade, unique):
    payload = {
        "document": "asn",
        "version": 1,
        "shipment_id": f"J-{unique}",
        "expected_on": "20/01/2026",
        "lines": [{"po_number": trade["order"].number, "supplier_part": trade["part"], "qty": "ten"}],
    }
    body = json.dumps(payload).encode()
    accepted = post(trade["client"], body, "application/json")
    assert accepted["status"] == "QUARANTINED"
    assert [(e["path"], e["value"], e["message"]) for e in accepted["errors"]] == [
        ("expected_on", "20/01/2026", "expected_on: '20/01/2026' is not a date in YYYY-MM-DD form (asn.v1 schema)"),
        ("lines/0/qty", "ten", "lines/0/qty: 'ten' is not of type 'integer' (asn.v1 schema)"),
    ]
    assert_kept(trade["client"], accepted["id"], body)

    csv_body = (
        "document,version,shipment_id,expected_on,po_number,supplier_part,qty\n"
        f"asn,1,K-{unique},2026-01-20,{trade['order'].number},{trade['part']},4\n"
        f"asn,1,K-{unique},2026-01-20,{trade['order'].number},{trade['part']},ten\n"
    ).encode()
    accepted = post(trade["client"], csv_body, "text/csv")
    assert accepted["status"] == "QUARANTINED"
    assert accepted["errors"] == [
        {
            "code": "schema_violation",
            "message": "CSV row 3, column qty: lines/1/qty: 'ten' is not of type 'integer' (asn.v1 schema)",
            "kind": "syntax",
            "segment": None,
            "element": "type",
            "value": "ten",
            "path": "lines/1/qty",
        }
    ]
    assert_kept(trade["client"], accepted["id"], csv_body)


def test_ten_megabyte_body_is_refused_with_413_and_nothing_is_stored(trade):
    before = InboundMessage.objects.count()
    response = trade["client"].post(URL, data=b"ISA" + b"x" * (10 * 1024 * 1024), content_type="application/edi-x12")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert InboundMessage.objects.count() == before


def test_the_supplier_message_limit_is_its_own_setting(trade, settings):
    settings.SUPPLIER_MESSAGE_MAX_BYTES = 100
    before = InboundMessage.objects.count()
    response = trade["client"].post(URL, data=b"x" * 101, content_type="text/plain")
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": "The request body has 101 bytes; the limit is 100.",
        "fields": {"content_length": 101, "max_bytes": 100},
    }
    assert InboundMessage.objects.count() == before
    assert post(trade["client"], b"x" * 100, "text/plain")["status"] == "QUARANTINED"


def test_reprocess_after_adding_the_mapping_applies_once(trade, unique):
    body = interchange(
        trade["supplier"].isa_id,
        61,
        [("856", asn_body(f"R-{unique}", trade["order"].number, [("1", f"NEW-{unique}", 3)]))],
    )
    accepted = post(trade["client"], body, "application/edi-x12")
    assert accepted["status"] == "QUARANTINED"
    assert accepted["errors"][0]["code"] == "unknown_supplier_part"
    assert trade["client"].post(f"{URL}{accepted['id']}/reprocess/").status_code == 403  # ops only

    services.supplier_item_upsert(supplier=trade["supplier"].code, supplier_part=f"NEW-{unique}", sku=trade["sku"])
    response = trade["ops"].post(f"{URL}{accepted['id']}/reprocess/")
    assert response.status_code == 200
    assert response.json()["status"] == "APPLIED"
    assert response.json()["attempts"] == 2
    assert inbound_refs(trade["sku"]).count((f"ASN-{trade['supplier'].code}-R-{unique}/1", 3)) == 1

    again = trade["ops"].post(f"{URL}{accepted['id']}/reprocess/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "not_reprocessable"
    assert inbound_refs(trade["sku"]).count((f"ASN-{trade['supplier'].code}-R-{unique}/1", 3)) == 1


def test_supplier_bound_tokens_see_only_their_messages(trade, unique):
    other = make_supplier(f"o{unique}")
    other_client = client_for(f"other-{unique}", INTEGRATION, other.code)
    mine = post(trade["client"], b"", "text/plain")
    theirs = post(other_client, b"x", "text/plain")
    assert trade["client"].get(f"{URL}{theirs['id']}/").status_code == 404
    assert trade["client"].get(f"{URL}{theirs['id']}/raw/").status_code == 404
    assert other_client.get(f"{URL}{mine['id']}/").status_code == 404
    listed = [m["id"] for m in trade["client"].get(URL).json()["results"]]
    assert mine["id"] in listed and theirs["id"] not in listed
    refused = trade["client"].post(f"{URL}?supplier={other.code}", data=b"x", content_type="text/plain")
    assert refused.status_code == 403


def test_list_filters_and_roles(trade, unique):
    quarantined = post(trade["client"], b"", "text/plain")
    listed = trade["ops"].get(URL, {"status": "QUARANTINED", "supplier": trade["supplier"].code}).json()["results"]
    assert [m["id"] for m in listed] == [quarantined["id"]]
    assert trade["ops"].get(URL, {"status": "BOGUS"}).status_code == 400
    planner = client_for(f"planner-{unique}", PLANNER)
    assert planner.get(URL).status_code == 200
    assert planner.post(URL, data=b"x", content_type="text/plain").status_code == 403
    assert APIClient().post(URL, data=b"x", content_type="text/plain").status_code == 401
    assert trade["ops"].get(f"{URL}999999999999/").status_code == 404


def test_a_message_above_the_general_api_limit_but_within_the_supplier_limit_is_stored(trade, settings):
    settings.API_MAX_BODY_BYTES = 1024 * 1024
    body = b"x" * (3 * 1024 * 1024)  # above 1 MiB and above Django's 2.5 MiB in-memory default
    created = post(trade["client"], body, "text/plain")
    assert created["status"] == "QUARANTINED"
    assert_kept(trade["client"], created["id"], body)
