"""Supplier profiles through the services and the inbound pipeline: versions and their events, and
each thing a profile changes (dates, units, product qualifiers, ignored segments, over-shipment,
match tolerances) for that supplier only."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import DatabaseError, transaction

from inventory import selectors as inventory_selectors
from scm.events.store import read_stream
from suppliers import inbound, services
from suppliers.models import ShipNotice, SupplierInvoice, SupplierProfileVersion
from suppliers.profiles import ProfileInvalid
from suppliers.services.profiles import ProfileVersionConflict, supplier_profile_update
from tests.factories import ItemFactory
from tests.integration.test_suppliers_setup import asn_body, interchange, make_order, make_supplier

pytestmark = pytest.mark.django_db

US_DATES = {"date_formats": {"DTM02": ["MM/DD/YY"]}}


@pytest.fixture
def trade(unique):
    supplier = make_supplier(unique)
    sku = ItemFactory(sku=f"A-{unique}", pack_size=12).sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PA-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 100, "2.50")])
    return {"supplier": supplier, "sku": sku, "part": f"PA-{unique}", "order": order, "unique": unique}


def process(body: bytes):
    message = inbound.inbound_message_store(body=body, source="api")
    return inbound.inbound_message_process(message_id=message.pk)


def ship(trade, n: int, *, shipped: str = "20261128", items=None, extra: list[str] | None = None, unit="EA") -> bytes:
    body = asn_body(f"S{n}-{trade['unique']}", trade["order"].number, items or [("1", trade["part"], 4)])
    body = [f"DTM*011*{shipped}" if segment.startswith("DTM*011") else segment for segment in body]
    body = [segment.replace("*EA", f"*{unit}") if segment.startswith("SN1") else segment for segment in body]
    if extra:
        body[1:1] = extra
    return interchange(trade["supplier"].isa_id, n, [("856", body)])


def inbound_units(trade) -> int:
    balance = inventory_selectors.balance_for(sku=trade["sku"], location=trade["order"].destination)
    return balance.inbound if balance else 0


def test_each_change_is_a_new_immutable_version_with_its_event(trade):
    code = trade["supplier"].code
    first, created = supplier_profile_update(supplier=code, document_type="856", settings=US_DATES, actor="ops:ann")
    assert (first.version, created, first.changed_fields, first.created_by) == (1, True, ["date_formats"], "ops:ann")
    again, created = supplier_profile_update(supplier=code, document_type="DESADV", settings=US_DATES)
    assert (again.pk, created) == (first.pk, False)  # DESADV is the 856's profile; nothing changed
    second, _ = supplier_profile_update(
        supplier=code, document_type="856", settings={**US_DATES, "over_shipment_pct": 10}, expected_version=1
    )
    assert (second.version, second.changed_fields) == (2, ["over_shipment_pct"])
    with pytest.raises(ProfileVersionConflict):
        supplier_profile_update(supplier=code, document_type="856", settings={}, expected_version=1)
    with pytest.raises(ProfileInvalid):
        supplier_profile_update(supplier=code, document_type="856", settings={"date_formats": {"DTM02": ["XX"]}})
    events = read_stream(f"supplier-profile-{code}-856")
    assert [(e.type, e.version, e.payload["version"], e.payload["changed_fields"]) for e in events] == [
        ("SupplierProfileChanged", 1, 1, ["date_formats"]),
        ("SupplierProfileChanged", 2, 2, ["over_shipment_pct"]),
    ]
    assert events[0].metadata["actor"] == "ops:ann"
    assert events[0].payload["settings"]["date_formats"] == {"DTM02": ["MM/DD/YY"]}

    with pytest.raises(ValueError, match="immutable"):
        first.note = "edited"
        first.save()
    with pytest.raises(DatabaseError), transaction.atomic():
        SupplierProfileVersion.objects.filter(pk=first.pk).update(note="edited behind the service's back")
    with pytest.raises(DatabaseError), transaction.atomic():
        SupplierProfileVersion.objects.filter(pk=first.pk).delete()
    assert SupplierProfileVersion.objects.get(pk=first.pk).note == ""


def test_a_changed_date_format_is_fixed_by_the_profile_for_that_supplier_only(trade, unique):
    other = make_supplier(f"o{unique}", code=f"OTHER-{unique}")
    message = process(ship(trade, 1, shipped="11/28/26"))
    assert message.status == "QUARANTINED"
    assert [(e["code"], e["segment"], e["element"], e["value"]) for e in message.errors] == [
        ("x12_invalid_date", "DTM", "DTM02", "11/28/26")
    ]
    assert message.profile_versions == {}

    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings=US_DATES)
    message = inbound.inbound_message_reprocess(message_id=message.pk)
    assert message.status == "APPLIED"
    assert message.profile_versions == {"856": 1}
    assert message.summary["documents"][0]["profile_version"] == 1
    assert ShipNotice.objects.get(number=f"S1-{unique}").shipped_on == date(2026, 11, 28)
    applied = read_stream(message.stream)[-1]
    assert (applied.type, applied.payload["documents"][0]["profile_version"]) == ("SupplierMessageApplied", 1)

    direct = process(ship(trade, 2, shipped="11/29/26"))
    assert (direct.status, direct.profile_versions) == ("APPLIED", {"856": 1})
    assert ShipNotice.objects.get(number=f"S2-{unique}").shipped_on == date(2026, 11, 29)
    assert inbound_units(trade) == 8

    # Another supplier sending the same format is still read strictly.
    other_order = make_order(f"o{unique}", other, [(trade["sku"], 5, "2.50")], number=f"PO-O-{unique}")
    services.supplier_item_upsert(supplier=other.code, supplier_part=trade["part"], sku=trade["sku"])
    body = asn_body(f"SO-{unique}", other_order.number, [("1", trade["part"], 1)], shipped="11/28/26")
    strict = process(interchange(other.isa_id, 3, [("856", body)]))
    assert (strict.status, strict.errors[0]["element"], strict.profile_versions) == ("QUARANTINED", "DTM02", {})


def test_three_cases_of_a_twelve_pack_item_raise_inbound_by_thirty_six(trade):
    before = inbound_units(trade)
    message = process(ship(trade, 4, items=[("1", trade["part"], 3)], unit="CA"))
    assert message.status == "APPLIED"
    assert inbound_units(trade) - before == 36
    assert message.summary["documents"][0]["lines"] == 1


def test_a_supplier_unit_code_is_mapped_to_ours_by_the_profile(trade):
    refused = process(ship(trade, 5, items=[("1", trade["part"], 2)], unit="CAS"))
    assert (refused.status, refused.errors[0]["code"], refused.errors[0]["value"]) == (
        "QUARANTINED",
        "unknown_unit",
        "CAS",
    )
    supplier_profile_update(
        supplier=trade["supplier"].code, document_type="856", settings={"unit_aliases": {"CAS": "CA"}}
    )
    before = inbound_units(trade)
    assert inbound.inbound_message_reprocess(message_id=refused.pk).status == "APPLIED"
    assert inbound_units(trade) - before == 24


def test_trusted_qualifiers_in_order_and_normalised_part_numbers(trade, unique):
    services.supplier_item_upsert(supplier=trade["supplier"].code, supplier_part=f"77{unique}", sku=trade["sku"])
    # LIN carries our SKU under BP (wrong: a SKU that does not exist) and the part with leading zeros under UP.
    lin_items = [("1", f"0077{unique}", 2)]
    body = asn_body(f"Q-{unique}", trade["order"].number, lin_items, qualifier="UP")
    body = [s.replace(f"*UP*0077{unique}", f"*UP*0077{unique}*BP*NO-SUCH-SKU") for s in body]
    refused = process(interchange(trade["supplier"].isa_id, 6, [("856", body)]))
    assert (refused.status, refused.errors[0]["code"]) == ("QUARANTINED", "unknown_supplier_part")

    supplier_profile_update(
        supplier=trade["supplier"].code,
        document_type="856",
        settings={"product_qualifiers": ["UP", "BP"], "part_number": {"strip_leading_zeros": True}},
    )
    assert inbound.inbound_message_reprocess(message_id=refused.pk).status == "APPLIED"
    line = ShipNotice.objects.get(number=f"Q-{unique}").lines.get()
    assert (line.sku, line.qty) == (trade["sku"], 2)

    # Trusting only EN, nothing the message carries counts, and the reason says why.
    supplier_profile_update(
        supplier=trade["supplier"].code, document_type="856", settings={"product_qualifiers": ["EN"]}
    )
    body = asn_body(f"Q2-{unique}", trade["order"].number, [("1", trade["part"], 1)])
    untrusted = process(interchange(trade["supplier"].isa_id, 7, [("856", body)]))
    assert untrusted.status == "QUARANTINED"
    assert "856 profile v2 trusts EN only" in untrusted.errors[0]["message"]


def test_a_segment_the_supplier_always_sends_malformed_is_ignored_with_a_warning(trade):
    broken_ref = ["REF**BAD"]  # REF01 (the qualifier) is missing
    refused = process(ship(trade, 8, extra=broken_ref))
    assert (refused.status, refused.errors[0]["code"], refused.errors[0]["element"]) == (
        "QUARANTINED",
        "x12_missing",
        "REF01",
    )
    supplier_profile_update(
        supplier=trade["supplier"].code,
        document_type="856",
        settings={"ignore": [{"segment": "REF", "element": "REF01", "note": "their ERP leaves REF01 empty"}]},
    )
    applied = inbound.inbound_message_reprocess(message_id=refused.pk)
    assert applied.status == "APPLIED"
    [warning] = applied.summary["warnings"]
    assert warning.startswith("REF #3 at byte ")
    assert warning.endswith(
        "REF01 is missing; expected a reference qualifier: segment ignored under 856 profile v1 "
        "(their ERP leaves REF01 empty)"
    )
    # Only what the rule names is forgiven: a malformed date still quarantines.
    still = process(ship(trade, 9, shipped="2026-11-28", extra=broken_ref))
    assert [e["element"] for e in still.errors] == ["DTM02"]


def test_over_shipment_beyond_the_profiles_tolerance_is_quarantined(trade, unique):
    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings={"over_shipment_pct": 10})
    too_many = process(ship(trade, 10, items=[("1", trade["part"], 111)]))
    assert (too_many.status, too_many.errors[0]["code"], too_many.errors[0]["value"]) == (
        "QUARANTINED",
        "over_shipment",
        "111",
    )
    assert (
        "would have 111 shipped against 100 ordered; the 856 profile v1 allows 10% over (110)"
        in (too_many.errors[0]["message"])
    )
    assert process(ship(trade, 11, items=[("1", trade["part"], 110)])).status == "APPLIED"


def invoice_body(order_number: str, number: str, part: str, qty: int, price: str) -> list[str]:
    total = int(round(qty * float(price) * 100))
    return [f"BIG*20261130*{number}**{order_number}", f"IT1*1*{qty}*EA*{price}**VP*{part}", f"TDS*{total}", "CTT*1"]


def test_match_tolerances_come_from_the_invoice_profile(trade, unique):
    def invoiced_at(n: int, price: str):
        order = make_order(unique, trade["supplier"], [(trade["sku"], 100, "2.50")], number=f"PO{n}-{unique}")
        services.purchase_order_receive(po_id=order.pk)
        body = invoice_body(order.number, f"I{n}-{unique}", trade["part"], 100, price)
        message = process(interchange(trade["supplier"].isa_id, 20 + n, [("810", body)]))
        return message, SupplierInvoice.objects.get(number=f"I{n}-{unique}")

    message, invoice = invoiced_at(1, "2.55")
    assert (message.status, invoice.match_status, message.profile_versions) == ("APPLIED", "mismatch", {})
    assert invoice.match["findings"] == [f"line 1 ({trade['sku']}): price 2.5500 differs from PO price 2.5000"]

    supplier_profile_update(supplier=trade["supplier"].code, document_type="810", settings={"price_tolerance_pct": 2})
    message, invoice = invoiced_at(2, "2.55")
    assert (invoice.match_status, message.profile_versions) == ("matched", {"810": 1})
    assert invoiced_at(3, "2.56")[1].match_status == "mismatch"
    # The ship notice profile is another document type: untouched.
    assert process(ship(trade, 30, shipped="11/28/26")).status == "QUARANTINED"


def test_a_desadvs_changed_date_format_is_fixed_by_the_same_856_profile(unique):
    from tests import edifact

    supplier = make_supplier(f"e{unique}", edifact_id=f"54{int(unique, 16) % 10**11:011d}", formats=["edifact"])
    sku = ItemFactory(sku=f"E-{unique}", pack_size=6).sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"PE-{unique}", sku=sku)
    order = make_order(f"e{unique}", supplier, [(sku, 100, "2.50")])

    def desadv(n: int) -> bytes:
        body = edifact.desadv_body(f"D{n}-{unique}", order.number, [("1", f"PE-{unique}", "2")], shipped="11/28/26")
        body = [s.replace(":PCE", ":CT") if s.startswith("QTY") else s for s in body]  # 2 cartons of 6
        return edifact.interchange(supplier.edifact_id, str(n), [("DESADV", body)])

    refused = process(desadv(1))
    assert (refused.status, refused.format) == ("QUARANTINED", "edifact")
    assert [(e["code"], e["segment"], e["element"], e["value"]) for e in refused.errors] == [
        ("edifact_invalid_date", "DTM", "DTM01-2", "11/28/26")
    ]
    supplier_profile_update(
        supplier=supplier.code, document_type="DESADV", settings={"date_formats": {"DTM01-2": ["MM/DD/YY"]}}
    )
    applied = inbound.inbound_message_reprocess(message_id=refused.pk)
    assert (applied.status, applied.profile_versions) == ("APPLIED", {"856": 1})
    notice = ShipNotice.objects.get(number=f"D1-{unique}")
    assert (notice.shipped_on, notice.lines.get().qty) == (date(2026, 11, 28), 12)
    assert process(desadv(2)).status == "APPLIED"
