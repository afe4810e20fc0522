"""The seed scenario in headless Chromium: a supplier's 856 arrives with `DTM*011*11/28/26` and is
quarantined naming DTM02; ops follow the reason's link from the dashboard to the supplier's profile
in the admin, add `MM/DD/YY`, reprocess all of the supplier's messages with that reason from the
dashboard, and see the message applied under profile version 1. The next message in that format
applies directly; another supplier's parsing did not change. Screenshots go to test-artifacts/."""

from __future__ import annotations

import pytest

from suppliers import inbound
from suppliers import selectors as supplier_selectors
from suppliers import services as supplier_services
from suppliers.models import InboundMessage, SupplierProfileVersion
from tests.browser.conftest import log_in, shot
from tests.integration.test_suppliers_setup import asn_body, interchange

pytestmark = pytest.mark.browser


def us_dated_ship_notice(supplier, n: int, prefix: str) -> InboundMessage:
    """A sent PO for one of the supplier's mapped items, and an 856 whose ship date is MM/DD/YY."""
    mapped = supplier_selectors.supplier_items(supplier=supplier.code).first()
    order = supplier_services.purchase_order_create(
        number=f"{prefix}PO-PROFILE-{n}",
        supplier=supplier.code,
        destination=f"{prefix}WH-EAST",
        lines=[{"sku": mapped.sku, "qty": 6, "unit_price": "2.50"}],
    )
    supplier_services.purchase_order_send(po_id=order.pk)
    body = asn_body(f"{prefix}ASN-PROFILE-{n}", order.number, [("1", mapped.supplier_part, 6)], shipped="11/28/26")
    stored = inbound.inbound_message_store(body=interchange(supplier.isa_id, 880000 + n, [("856", body)]), source="api")
    return inbound.inbound_message_process(message_id=stored.pk)


def test_ops_fix_a_changed_date_format_in_the_profile_and_reprocess_in_bulk(page, demo):
    prefix = demo["prefix"]
    suppliers = list(supplier_selectors.suppliers().filter(code__startswith=prefix).exclude(isa_id="").order_by("code"))
    supplier, other = suppliers[0], suppliers[1]
    message = us_dated_ship_notice(supplier, 1, prefix)
    elsewhere = us_dated_ship_notice(other, 2, prefix)
    assert message.status == elsewhere.status == "QUARANTINED"
    assert [(e["code"], e["element"], e["value"]) for e in message.errors] == [
        ("x12_invalid_date", "DTM02", "11/28/26")
    ]

    log_in(page, f"{prefix}ops", "ops")
    page.goto(f"/supplier-exceptions/messages/{message.pk}/")
    assert "DTM02 '11/28/26' is not a CCYYMMDD date" in page.inner_text('[data-testid="errors"]')
    assert page.inner_text('[data-testid="profile-versions"]') == "none (defaults)"
    shot(page, "20-quarantined-dtm02")

    page.goto("/supplier-exceptions/")
    row = page.locator(f'[data-testid="reason-row"][data-supplier="{supplier.code}"][data-code="x12_invalid_date"]')
    waiting = int(row.locator('[data-testid="reason-count"]').inner_text())
    assert waiting >= 1
    assert row.locator('[data-testid="profile-fix"]').inner_text() == "856 profile → Date formats (DTM02)"
    shot(page, "21-reasons-with-profile-links")
    row.locator('[data-testid="profile-fix"]').click()

    # The admin's form for a new version: the date formats field in focus, the failing element ready.
    page.wait_for_selector("textarea#id_date_formats")
    assert page.input_value("textarea#id_date_formats") == "DTM02: "
    assert "Quarantined on DTM02 '11/28/26'" in page.inner_text(".field-date_formats")
    page.fill("textarea#id_date_formats", "DTM02: MM/DD/YY")
    page.fill("input#id_note", "supplier switched ERP; dates are MM/DD/YY now")
    shot(page, "22-admin-profile-form")
    page.click('input[name="_save"]')
    page.wait_for_selector(".messagelist")
    version = SupplierProfileVersion.objects.get(supplier=supplier, document_type="856")
    assert (version.version, version.settings["date_formats"], version.created_by) == (
        1,
        {"DTM02": ["MM/DD/YY"]},
        f"user:{prefix}ops",
    )
    shot(page, "23-admin-profile-saved")

    page.goto("/supplier-exceptions/")
    row = page.locator(f'[data-testid="reason-row"][data-supplier="{supplier.code}"][data-code="x12_invalid_date"]')
    row.locator('[data-testid="bulk-reprocess-button"]').click()
    page.wait_for_selector('[data-testid="run-status"]')
    assert page.inner_text('[data-testid="run-status"]') == "Finished"
    assert page.inner_text('[data-testid="run-progress"]') == f"{waiting}/{waiting}"
    mine = page.locator(
        '[data-testid="run-attempt"]', has=page.locator(f'a[href="/supplier-exceptions/messages/{message.pk}/"]')
    )
    assert mine.get_attribute("data-outcome") == "APPLIED"
    assert "856 v1" in mine.inner_text()
    shot(page, "24-bulk-reprocess-run")

    mine.locator("a").click()
    page.wait_for_selector('[data-testid="message-status"]')
    assert page.inner_text('[data-testid="message-status"]') == "Applied"
    assert page.inner_text('[data-testid="profile-versions"]') == "856 v1"
    shot(page, "25-message-applied-under-v1")

    nxt = us_dated_ship_notice(supplier, 3, prefix)
    assert (nxt.status, nxt.profile_versions) == ("APPLIED", {"856": 1})
    elsewhere.refresh_from_db()
    assert (elsewhere.status, elsewhere.profile_versions) == ("QUARANTINED", {})
    assert not elsewhere.reprocess_attempts.exists()
