"""Ops admin for orders: read-only orders with their timeline, and actions that go through the services."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, User
from django.test import Client

from inventory import services as inventory
from orders import services as orders
from orders.models import Customer, OrderStatus
from scm.events.store import read_stream
from scm.roles import OPS, PLANNER
from tests.factories import CarrierFactory, CustomerFactory, ItemFactory, LocationFactory, OrderFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/salesorder/"


def staff(role: str, unique: str) -> Client:
    user = User.objects.create_user(f"{role}-admin-{unique}", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def order(unique):
    sku = ItemFactory(sku=f"AD-{unique}").sku
    place = LocationFactory(code=f"AW-{unique}").code
    inventory.stock_receive(sku=sku, location=place, qty=4, reference="opening")
    created = OrderFactory(
        customer=CustomerFactory(code=f"AC-{unique}"), external_id="ADM-1", lines=[{"sku": sku, "qty": 3}]
    )
    orders.order_allocate(order_id=created.pk)
    return created


def test_ops_read_orders_with_status_read_only_and_the_timeline(unique, order):
    client = staff(OPS, unique)
    listing = client.get(f"{CHANGELIST}?q=ADM-1")
    assert listing.status_code == 200
    assert f"AC-{unique}".encode() in listing.content
    page = client.get(f"{CHANGELIST}{order.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="status"' not in html
    assert "Reserved 3 unit(s)" in html
    assert "Order created with 1 line(s)" in html
    assert client.post(f"{CHANGELIST}{order.pk}/change/", {"status": "FULFILLED"}).status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED


def test_planners_get_no_orders_admin(unique, order):
    assert staff(PLANNER, unique).get(CHANGELIST).status_code == 403


def test_cancel_action_asks_for_a_reason_then_cancels_through_the_service(unique, order):
    client = staff(OPS, unique)
    ask = client.post(CHANGELIST, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [order.pk]})
    assert ask.status_code == 200 and b"Cancel the orders" in ask.content
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    done = client.post(
        CHANGELIST, {"action": "cancel_orders", ACTION_CHECKBOX_NAME: [order.pk], "reason": "duplicate"}, follow=True
    )
    assert done.status_code == 200
    assert "1 order(s) cancelled." in [str(m) for m in done.context["messages"]]
    order.refresh_from_db()
    assert (order.status, order.status_reason) == (OrderStatus.CANCELLED, "duplicate")
    event = read_stream(order.stream)[-1]
    assert (event.type, event.payload["actor"]) == ("OrderCancelled", f"user:ops-admin-{unique}")


def test_retry_action_retries_failed_orders_and_reports_the_others(unique, order):
    client = staff(OPS, unique)
    orders.order_fail(order_id=order.pk, reason="TMS down", step="plan_shipment", attempts=6)
    done = client.post(CHANGELIST, {"action": "retry_failed_orders", ACTION_CHECKBOX_NAME: [order.pk]}, follow=True)
    assert "1 order(s) retried." in [str(m) for m in done.context["messages"]]
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED
    again = client.post(CHANGELIST, {"action": "retry_failed_orders", ACTION_CHECKBOX_NAME: [order.pk]}, follow=True)
    [refused] = [str(m) for m in again.context["messages"]]
    assert refused.startswith(f"Order {order.pk}: Order {order.pk} is CREATED; cannot ")


def test_customers_save_through_the_service(unique):
    client = staff(OPS, unique)
    response = client.post("/admin/orders/customer/add/", {"code": f"NEW-{unique}", "name": "New one", "active": "on"})
    assert response.status_code == 302
    assert Customer.objects.get(code=f"NEW-{unique}").name == "New one"
    assert [e.type for e in read_stream(f"customer-NEW-{unique}")] == ["CustomerDefined"]


def test_master_data_admin_saves_through_the_upsert_and_shows_a_refusal_as_a_message(unique):
    """Items, locations, customers, suppliers and carriers share scm.admin.MasterDataAdmin."""
    client = staff(OPS, unique)
    created = client.post(
        "/admin/inventory/item/add/",
        {"sku": f"ADM-{unique}", "name": "Admin item", "unit": "EA", "pack_size": 1, "active": "on",
         "safety_stock": 0, "min_qty": 1, "lead_time_days": 7},
    )  # fmt: skip
    assert created.status_code == 302, created.content[:2000]
    assert [e.type for e in read_stream(f"item-ADM-{unique}")] == ["ItemDefined"]
    carrier = CarrierFactory(code=f"ADM-{unique}")
    refused = client.post(
        f"/admin/shipments/carrier/{carrier.pk}/change/",
        {"name": "Renamed", "tracking_url_template": "https://no-placeholder.example/", "service_levels": "[]",
         "transit_days": 2, "active": "on"},
        follow=True,
    )  # fmt: skip
    assert "tracking_url_template must contain {tracking_number}." in [str(m) for m in refused.context["messages"]]
    carrier.refresh_from_db()
    assert carrier.name == f"Carrier ADM-{unique}"
    assert [e.type for e in read_stream(f"carrier-ADM-{unique}")] == ["CarrierDefined"]
