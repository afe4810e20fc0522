"""Duplicate detection is per sender: one supplier cannot make another's ship notice vanish (issue 14).

Supplier A's token posted the bytes of supplier B's 856 (ISA06 names B): it was quarantined as a
sender mismatch but claimed the checksum, so B's own copy was marked DUPLICATE of a message B
cannot see and never applied; and the reason shown to A named B.
"""

from __future__ import annotations

import json

import pytest

from inventory import selectors as inventory_selectors
from scm.roles import INTEGRATION, OPS
from suppliers import services
from tests.api.helpers import client_for
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbound-messages/"


@pytest.fixture
def two_suppliers(unique):
    sku = item(f"D-{unique}").sku
    b = make_supplier(f"b{unique}", name=f"Bravo {unique}")
    services.supplier_item_upsert(supplier=b.code, supplier_part=f"P-{unique}", sku=sku)
    a = make_supplier(f"a{unique}", name=f"Alpha {unique}")
    return {
        "a": a,
        "b": b,
        "sku": sku,
        "order": make_order(unique, b, [(sku, 10, "2.50")]),
        "a_client": client_for(f"a-{unique}", INTEGRATION, a.code),
        "b_client": client_for(f"b-{unique}", INTEGRATION, b.code),
    }


def post(client, body: bytes, content_type: str = "application/edi-x12") -> dict:
    response = client.post(URL, data=body, content_type=content_type)
    assert response.status_code == 202, response.content
    return response.json()


def test_another_suppliers_bytes_are_quarantined_without_blocking_the_rightful_sender(two_suppliers, unique):
    a, b = two_suppliers["a"], two_suppliers["b"]
    body = interchange(b.isa_id, 71, [("856", asn_body(f"V-{unique}", two_suppliers["order"].number,
                                                      [("1", f"P-{unique}", 4)]))])  # fmt: skip

    stolen = post(two_suppliers["a_client"], body)
    assert stolen["status"] == "QUARANTINED"
    assert [error["code"] for error in stolen["errors"]] == ["sender_mismatch"]
    assert stolen["errors"][0]["message"] == (
        f"ISA06 {b.isa_id!r} is not the X12 id of supplier {a.code}, for which the message was received"
    )
    shown_to_a = json.dumps(two_suppliers["a_client"].get(f"{URL}{stolen['id']}/").json())
    assert b.code not in shown_to_a and b.name not in shown_to_a

    rightful = post(two_suppliers["b_client"], body)
    assert (rightful["status"], rightful["errors"]) == ("APPLIED", [])
    refs = inventory_selectors.inbound_for(sku=two_suppliers["sku"]).values_list("reference", "quantity")
    assert list(refs) == [(f"ASN-{b.code}-V-{unique}/1", 4)]

    again = post(two_suppliers["b_client"], body)
    assert again["status"] == "DUPLICATE"
    assert two_suppliers["b_client"].get(f"{URL}{again['id']}/").json()["duplicate_of"] == rightful["id"]
    assert two_suppliers["a_client"].get(f"{URL}{rightful['id']}/").status_code == 404


def test_a_json_document_naming_another_supplier_is_refused_the_same_whether_it_exists_or_not(two_suppliers, unique):
    a, b = two_suppliers["a"], two_suppliers["b"]
    errors = []
    for named in (b.code, f"NOBODY-{unique}"):
        document = {"document": "asn", "version": 1, "supplier": named, "shipment_id": f"J-{unique}", "lines": []}
        found = post(two_suppliers["a_client"], json.dumps(document).encode(), "application/json")["errors"]
        errors.append([(e["code"], e["message"]) for e in found])
    assert errors[0] == errors[1]
    assert ("sender_mismatch", f'the document\'s "supplier" is not {a.code}, for which the message was received') in (
        errors[0]
    )


def test_an_unbound_sender_still_deduplicates_within_the_attributed_supplier(two_suppliers, unique):
    """An unbound integration posting B's bytes acts for B: B's own copy afterwards is its duplicate."""
    b = two_suppliers["b"]
    body = interchange(b.isa_id, 72, [("856", asn_body(f"U-{unique}", two_suppliers["order"].number,
                                                      [("1", f"P-{unique}", 2)]))])  # fmt: skip
    relayed = post(client_for(f"relay-{unique}", OPS), body)
    assert relayed["status"] == "APPLIED"
    assert post(two_suppliers["b_client"], body)["status"] == "DUPLICATE"


def test_the_migration_scopes_existing_checksum_claims_to_their_message_supplier(two_suppliers, unique):
    import importlib

    from django.apps import apps

    from suppliers import inbound
    from suppliers.models import MessageClaim

    migration = importlib.import_module("suppliers.migrations.0005_scope_checksum_claims_to_supplier")
    with_supplier = inbound.inbound_message_store(body=f"one {unique}".encode(), source="api",
                                                  supplier=two_suppliers["b"])  # fmt: skip
    without = inbound.inbound_message_store(body=f"two {unique}".encode(), source="api")
    for message in (with_supplier, without):
        MessageClaim.objects.create(key=f"sha256:{message.sha256}", message=message)

    migration.scope_claims(apps, None)
    keys = set(MessageClaim.objects.filter(message__in=[with_supplier, without]).values_list("key", flat=True))
    assert keys == {f"sha256:{two_suppliers['b'].pk}:{with_supplier.sha256}", f"sha256:-:{without.sha256}"}

    migration.unscope_claims(apps, None)
    keys = set(MessageClaim.objects.filter(message__in=[with_supplier, without]).values_list("key", flat=True))
    assert keys == {f"sha256:{with_supplier.sha256}", f"sha256:{without.sha256}"}
