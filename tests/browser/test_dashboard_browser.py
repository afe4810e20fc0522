"""A planner and an ops user walk the dashboard in headless Chromium, with screenshots as artifacts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.selectors import positions
from orders import selectors as order_selectors
from orders.models import OrderStatus
from scm.events.store import read_stream
from suppliers import selectors as supplier_selectors
from suppliers import services as supplier_services
from tests.browser.conftest import log_in, shot

pytestmark = pytest.mark.browser


def test_login_refuses_a_wrong_password_and_admits_a_planner(page, demo):
    page.goto("/")
    assert page.url.endswith("/accounts/login/?next=/")
    page.fill("#id_username", f"{demo['prefix']}planner")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.inner_text('[data-testid="login-error"]') == "Wrong username or password."
    log_in(page, f"{demo['prefix']}planner", "planner")
    assert page.inner_text('[data-testid="who"]') == f"{demo['prefix']}planner"
    assert page.inner_text("h1") == "Overview"


def test_planner_walks_overview_to_an_order_and_its_event_timeline(page, demo):
    log_in(page, f"{demo['prefix']}planner", "planner")
    page.wait_for_selector('[data-testid="activity-chart"][data-drawn="1"]')
    assert page.locator('[data-testid="activity-chart"] canvas').count() == 1
    shot(page, "01-overview")

    backordered = order_selectors.orders(status=OrderStatus.BACKORDERED).count()
    card = page.locator('[data-testid="status-BACKORDERED"]')
    assert card.locator(".figure").inner_text() == str(backordered)
    page.click('[data-testid="status-PARTIALLY_FULFILLED"]')
    assert page.url.endswith("/orders/?status=PARTIALLY_FULFILLED")
    shot(page, "02-orders-partially-fulfilled")

    page.fill('input[name="customer"]', f"{demo['prefix']}C001")
    page.select_option('select[name="status"]', "")
    page.click("form.filters button")
    first = page.locator('[data-testid="order-link"]').first
    order_id = int(first.inner_text().lstrip("#"))
    first.click()
    page.wait_for_selector('[data-testid="timeline"]')
    assert page.inner_text("h1").startswith(f"Order #{order_id}")
    shot(page, "03-order-timeline")

    expected = order_selectors.order_history(order_id=order_id)
    entries = page.locator('[data-testid="timeline-entry"]')
    assert entries.count() == len(expected) >= 2
    assert [entries.nth(i).get_attribute("data-type") for i in range(entries.count())] == [e["type"] for e in expected]
    assert expected[0]["what"] in entries.nth(0).inner_text()
    assert page.locator('[data-testid="cancel-button"]').count() == 0  # planners see no ops buttons


def test_ops_cancel_an_order_from_its_page(page, demo):
    prefix = demo["prefix"]
    order = (
        order_selectors.orders(status=OrderStatus.BACKORDERED).filter(customer__code__startswith=prefix).first()
        or order_selectors.orders(status=OrderStatus.RESERVED).filter(customer__code__startswith=prefix).first()
    )
    assert order is not None, "the seeded month should leave open orders"
    log_in(page, f"{prefix}ops", "ops")
    page.goto(f"/orders/{order.pk}/")
    page.fill('[data-testid="cancel-reason"]', "customer asked on the phone")
    page.click('[data-testid="cancel-button"]')
    page.wait_for_selector('[data-testid="messages"]')
    assert page.inner_text('[data-testid="order-status"]') == "Cancelled"
    assert f"Order {order.pk} cancelled." in page.inner_text('[data-testid="messages"]')
    assert page.locator('[data-testid="timeline-entry"]').last.get_attribute("data-type") == "OrderCancelled"
    shot(page, "04-order-cancelled-by-ops")
    event = read_stream(order.stream)[-1]
    assert (event.type, event.payload["reason"], event.metadata["actor"]) == (
        "OrderCancelled",
        "customer asked on the phone",
        f"user:{prefix}ops",
    )


def quarantined_ship_notice(prefix: str):
    """A supplier ships against an acknowledged order but names a part number nobody mapped yet:
    the 856 is stored and quarantined. Returns (message, supplier code, the unknown part, its SKU)."""
    import json

    from dashboard.demo import x12_856
    from suppliers import inbound

    supplier = supplier_selectors.suppliers().filter(code__startswith=prefix).order_by("code").first()
    mapped = supplier_selectors.supplier_items(supplier=supplier.code).first()
    order = supplier_services.purchase_order_create(
        number=f"{prefix}PO-BROWSER",
        supplier=supplier.code,
        destination=f"{prefix}WH-EAST",
        lines=[{"sku": mapped.sku, "qty": 6, "unit_price": "2.50"}],
    )
    supplier_services.purchase_order_send(po_id=order.pk)
    today = timezone.localdate()
    ack = {
        "document": "po_ack",
        "version": 1,
        "po_number": order.number,
        "lines": [{"line_number": 1, "status": "accepted", "expected_date": (today + timedelta(days=2)).isoformat()}],
    }
    stored = inbound.inbound_message_store(body=json.dumps(ack).encode(), source="api", supplier=supplier)
    assert inbound.inbound_message_process(message_id=stored.pk).status == "APPLIED"
    part = f"NEW-{mapped.supplier_part}"
    body = x12_856(
        sender=supplier.isa_id,
        control=990001,
        shipment_id=f"{prefix}ASN-BROWSER",
        po_number=order.number,
        items=[("1", part, "6")],
        shipped=today,
        delivery=(today + timedelta(days=2)).strftime("%Y%m%d"),
    )
    stored = inbound.inbound_message_store(body=body, source="api")
    message = inbound.inbound_message_process(message_id=stored.pk)
    assert message.status == "QUARANTINED"
    return message, supplier.code, part, mapped.sku


def test_ops_fix_the_mapping_and_reprocess_a_quarantined_ship_notice(page, demo):
    prefix = demo["prefix"]
    message, supplier, part, sku = quarantined_ship_notice(prefix)
    assert [e["code"] for e in message.errors] == ["unknown_supplier_part"]

    log_in(page, f"{prefix}ops", "ops")
    page.goto("/supplier-exceptions/")
    listed = min(supplier_selectors.quarantined_messages().count(), 50)
    assert page.locator('[data-testid="quarantined-row"]').count() == listed
    shot(page, "05-supplier-exceptions")
    page.goto(f"/supplier-exceptions/messages/{message.pk}/")
    raw = page.locator('[data-testid="raw"]')
    assert raw.locator("mark.bad").count() == 1
    assert re.fullmatch(rf"LIN\*1\*VP\*{re.escape(part)}~", raw.locator("mark.bad").inner_text())
    assert f"supplier part '{part}'" in page.inner_text('[data-testid="errors"]')
    shot(page, "06-quarantined-message")

    supplier_services.supplier_item_upsert(supplier=supplier, supplier_part=part, sku=sku)
    page.click('[data-testid="reprocess-button"]')
    page.wait_for_selector('[data-testid="messages"]')
    assert f"Message {message.pk} reprocessed: now APPLIED." in page.inner_text('[data-testid="messages"]')
    assert page.inner_text('[data-testid="message-status"]') == "Applied"
    shot(page, "07-message-reprocessed")
    message.refresh_from_db()
    assert message.status == "APPLIED"


def test_inventory_filters_and_a_sku_history_chart(page, demo):
    prefix = demo["prefix"]
    log_in(page, f"{prefix}planner", "planner")
    page.goto(f"/inventory/?q={prefix}&below=1")
    flagged = min(len(positions(search=prefix, below_reorder=True)), 50)
    assert page.locator('[data-testid="below-reorder"]').count() == flagged
    if not flagged:
        assert page.inner_text('[data-testid="positions"] tbody') == "No stock records match."
    page.goto(f"/inventory/?q={prefix}&sort=nonsense")
    assert "Ignored sort 'nonsense'" in page.inner_text('[data-testid="messages"]')
    page.locator('[data-testid="positions"] tbody tr a').first.click()
    page.wait_for_selector('[data-testid="balance-chart"][data-drawn="1"]')
    assert page.locator('[data-testid="ledger"] tbody tr').count() >= 1
    shot(page, "08-sku-history")
