"""The ops fix loop in the dashboard and the admin: a quarantine reason links to the profile field
that fixes it, the admin saves a new profile version, the dashboard reprocesses all messages with the
reason and shows the outcome per message."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from scm.roles import OPS, PLANNER
from suppliers import inbound, services
from suppliers.models import InboundMessage, ReprocessRun, SupplierProfileVersion
from suppliers.profiles.fixes import fix_for
from suppliers.services.profiles import supplier_profile_update
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db
ADD = "/admin/suppliers/supplierprofileversion/add/"


def staff(role: str, unique: str) -> Client:
    user = User.objects.create_user(f"{role}-p-{unique}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def quarantined(unique):
    supplier = make_supplier(unique)
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"P-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 50, "2.50")])
    found = []
    for n in (1, 2):
        body = asn_body(f"S{n}-{unique}", order.number, [("1", f"P-{unique}", 2)], shipped="11/28/26")
        stored = inbound.inbound_message_store(body=interchange(supplier.isa_id, n, [("856", body)]), source="api")
        found.append(inbound.inbound_message_process(message_id=stored.pk))
    return supplier, found


def test_reasons_map_to_the_profile_field_that_fixes_them():
    date = {"code": "x12_invalid_date", "segment": "DTM", "element": "DTM02", "value": "11/28/26"}
    assert (fix_for(date, ["856"]).field, fix_for(date, ["856"]).label) == (
        "date_formats",
        "856 profile → Date formats (DTM02)",
    )
    assert fix_for({"code": "edifact_invalid_date", "segment": "DTM"}, ["DESADV"]).document_type == "856"
    assert fix_for({"code": "unknown_unit", "value": "CAS"}, ["810"]).field == "unit_aliases"
    assert fix_for({"code": "unknown_supplier_part"}, ["855"]).field == "product_qualifiers"
    assert fix_for({"code": "over_shipment"}, ["856"]).field == "over_shipment_pct"
    assert fix_for({"code": "x12_missing", "segment": "REF", "element": "REF01"}, ["856"]).field == "ignore"
    assert fix_for({"code": "x12_bad_isa", "segment": "ISA"}, ["856"]) is None  # not a known deviation
    assert fix_for({"code": "unknown_purchase_order"}, ["856"]) is None  # master data, not the profile
    assert fix_for(date, ["997"]) is None  # no profile for acknowledgements


def test_the_exceptions_page_groups_reasons_and_links_ops_to_the_profile_field(quarantined, unique):
    supplier, messages = quarantined
    page = staff(OPS, unique).get("/supplier-exceptions/")
    html = page.content.decode()
    [group] = [r for r in page.context["reasons"] if r.supplier_code == supplier.code]
    assert (group.code, group.count, group.fix.field) == ("x12_invalid_date", 2, "date_formats")
    link = urlparse(group.fix.admin_url(supplier.pk))
    assert link.path == ADD
    assert parse_qs(link.query) == {
        "supplier": [str(supplier.pk)],
        "document_type": ["856"],
        "field": ["date_formats"],
        "element": ["DTM02"],
        "segment": ["DTM"],
        "value": ["11/28/26"],
    }
    assert "Reprocess all 2" in html
    assert "856 profile → Date formats (DTM02)" in html
    planner_html = staff(PLANNER, f"p{unique}").get("/supplier-exceptions/").content.decode()
    assert "Reprocess all 2" not in planner_html and ADD not in planner_html


def test_the_admin_starts_a_new_version_from_the_current_one_with_the_failing_element(quarantined, unique):
    supplier, messages = quarantined
    ops = staff(OPS, unique)
    url = fix_for(messages[0].errors[0], messages[0].document_types).admin_url(supplier.pk)
    form = ops.get(url)
    assert form.status_code == 200
    assert form.context["adminform"].form.initial["date_formats"] == "DTM02: "
    html = form.content.decode()
    assert "Quarantined on DTM02 &#x27;11/28/26&#x27;" in html and 'autofocus="autofocus"' in html

    refused = ops.post(ADD, {"supplier": supplier.pk, "document_type": "856", "date_formats": "DTM02: 11/28/26"})
    assert refused.status_code == 200
    [problem] = refused.context["adminform"].form.errors["date_formats"]
    assert (
        problem == "date_formats: DTM02: '11/28/26': '1' is not a date token (CCYY, YY, MM, DD) or a separator ('/-. ')"
    )
    assert not SupplierProfileVersion.objects.filter(supplier=supplier).exists()
    saved = ops.post(
        ADD, {"supplier": supplier.pk, "document_type": "856", "date_formats": "DTM02: MM/DD/YY", "note": "new ERP"}
    )
    assert saved.status_code == 302, saved.content
    version = SupplierProfileVersion.objects.get(supplier=supplier)
    assert (version.version, version.settings["date_formats"], version.note, version.created_by) == (
        1,
        {"DTM02": ["MM/DD/YY"]},
        "new ERP",
        f"user:{OPS}-p-{unique}",
    )
    again = ops.get(f"{ADD}?supplier={supplier.pk}&document_type=856")
    assert again.context["adminform"].form.initial["date_formats"] == "DTM02: MM/DD/YY"
    detail = ops.get(f"/admin/suppliers/supplierprofileversion/{version.pk}/change/")
    assert detail.status_code == 200 and "MM/DD/YY" in detail.content.decode()
    assert ops.post(f"/admin/suppliers/supplierprofileversion/{version.pk}/change/", {}).status_code == 403
    assert staff(PLANNER, f"p{unique}").get(ADD).status_code == 403


def test_ops_reprocess_all_messages_of_a_reason_and_see_each_outcome(quarantined, unique):
    supplier, messages = quarantined
    ops = staff(OPS, unique)
    supplier_profile_update(
        supplier=supplier.code, document_type="856", settings={"date_formats": {"DTM02": ["MM/DD/YY"]}}
    )
    assert (
        staff(PLANNER, f"p{unique}")
        .post("/supplier-exceptions/reprocess/", {"supplier": supplier.code, "reason_code": "x12_invalid_date"})
        .status_code
        == 403
    )
    started = ops.post(
        "/supplier-exceptions/reprocess/", {"supplier": supplier.code, "reason_code": "x12_invalid_date"}
    )
    run = ReprocessRun.objects.get(supplier=supplier)
    assert started.status_code == 302 and started["Location"] == f"/supplier-exceptions/reprocess/{run.pk}/"
    page = ops.get(started["Location"])
    html = page.content.decode()
    assert (page.context["run"].status, page.context["run"].done) == ("finished", 2)
    assert [a.outcome for a in page.context["attempts"]] == ["APPLIED", "APPLIED"]
    assert html.count('data-outcome="APPLIED"') == 2 and "856 v1" in html
    assert 'http-equiv="refresh"' not in html  # finished: no more refreshing

    message_page = ops.get(f"/supplier-exceptions/messages/{messages[0].pk}/").content.decode()
    assert 'data-testid="profile-versions">856 v1<' in message_page
    assert f'href="/supplier-exceptions/reprocess/{run.pk}/"' in message_page
    assert InboundMessage.objects.filter(pk__in=[m.pk for m in messages], status="APPLIED").count() == 2

    bad = ops.post("/supplier-exceptions/reprocess/", {"supplier": "NOPE", "reason_code": "x"}, follow=True)
    assert "Not reprocessed: No supplier 'NOPE'." in [str(m) for m in bad.context["messages"]]
