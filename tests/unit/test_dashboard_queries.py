"""Every dashboard page issues the same number of queries with ten times more data.

Each test builds a small network through the services, counts the queries of one request to each
page (after a warm-up request, so per-process caches are filled), grows the data ten-fold, and
counts again. Detail pages are measured on a small object and then on a ten times bigger one
(more lines, more ledger rows, more events).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import services as inventory
from orders import services as orders
from orders.tasks import run_fulfillment_step
from scm.roles import OPS
from shipments import services as shipping
from tests.factories import ItemFactory, LocationFactory


def queries(client: Client, path: str) -> int:
    client.get(path)  # warm-up: sessions, content types, permission caches
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(captured)


def ops_client(unique: str) -> Client:
    user = User.objects.create_user(f"q-{unique}", password="pw")
    user.groups.add(Group.objects.get(name=OPS))
    client = Client()
    client.force_login(user)
    return client


class Network:
    """SKUs stocked at two warehouses, orders that reserve, backorder and ship, and inbound supply."""

    def __init__(self, unique: str) -> None:
        self.unique = unique
        self.customer = orders.customer_upsert(code=f"QC-{unique}", name="Query customer").code
        self.w1 = LocationFactory(code=f"Q1-{unique}", allocation_rank=1).code
        self.w2 = LocationFactory(code=f"Q2-{unique}", allocation_rank=2).code
        self.carrier = shipping.carrier_upsert(code=f"QCAR-{unique}", name="Query carrier", is_default=True).code
        self.skus: list[str] = []
        self.orders: list[int] = []
        self.shipments: list[int] = []

    def grow(self, n: int) -> None:
        start = len(self.skus)
        for i in range(start, start + n):
            sku = ItemFactory(sku=f"Q{i:03d}-{self.unique}", reorder_point=50).sku
            self.skus.append(sku)
            inventory.receive(sku=sku, location=self.w1, qty=10, reference="opening")
            inventory.receive(sku=sku, location=self.w2, qty=3, reference="opening")
            inventory.add_inbound(
                sku=sku,
                location=self.w1,
                qty=20,
                reference=f"PO-Q-{self.unique}/{i}",
                expected_date=timezone.localdate() + timedelta(days=3 + i % 5),
            )
            qty = 4 if i % 3 else 30  # every third order backorders
            order, _ = orders.order_create(
                customer=self.customer,
                external_id=f"Q-{i}",
                lines=[{"sku": sku, "qty": qty}],
                requested_date=timezone.localdate() - timedelta(days=i % 2),
                start_workflow=False,
            )
            self.orders.append(order.pk)
            run_fulfillment_step(order.pk)
        for shipment in (
            shipping_selectors()
            .shipments(order=None)
            .filter(order_ref__in=[f"order-{pk}" for pk in self.orders], status="PLANNED")
        ):
            self.shipments.append(shipment.pk)
            shipping.shipment_depart(shipment_id=shipment.pk)
            shipping.tracking_update_ingest(
                raw={"status": "IN_TRANSIT", "occurred_at": timezone.now().isoformat(), "note": "hub"},
                source="api",
                shipment_id=shipment.pk,
            )


def shipping_selectors():
    from shipments import selectors

    return selectors


LIST_PAGES = ("/", "/inventory/", "/inventory/?below=1&sort=-days_of_cover", "/orders/", "/orders/?late=1")
LIST_PAGES += ("/shipments/", "/replenishment/")


@pytest.mark.django_db
def test_list_pages_cost_the_same_queries_with_ten_times_the_data(unique, settings):
    settings.TMS_BASE_URL = ""
    client = ops_client(unique)
    net = Network(unique)
    net.grow(3)
    small = {path: queries(client, path) for path in LIST_PAGES}
    net.grow(27)
    big = {path: queries(client, path) for path in LIST_PAGES}
    assert big == small


@pytest.mark.django_db
def test_detail_pages_cost_the_same_queries_for_a_ten_times_bigger_object(unique, settings):
    settings.TMS_BASE_URL = ""
    client = ops_client(unique)
    net = Network(unique)
    net.grow(12)
    small_order, _ = orders.order_create(
        customer=net.customer, external_id="SMALL", lines=[{"sku": net.skus[0], "qty": 1}], start_workflow=False
    )
    run_fulfillment_step(small_order.pk)
    big_order, _ = orders.order_create(
        customer=net.customer,
        external_id="BIG",
        lines=[{"sku": sku, "qty": 2} for sku in net.skus[:10]],
        start_workflow=False,
    )
    run_fulfillment_step(big_order.pk)
    orders.order_cancel(order_id=big_order.pk, reason="more events", actor="test")
    small_sku, big_sku = net.skus[1], net.skus[2]
    for n in range(10):
        inventory.adjust(sku=big_sku, location=net.w1, delta=1, reason="found", reference=f"found {n}")
    shipments = net.shipments
    small_ship, big_ship = shipments[0], shipments[1]
    for n in range(10):
        shipping.tracking_update_ingest(
            raw={"status": "IN_TRANSIT", "occurred_at": timezone.now().isoformat(), "note": f"scan {n}"},
            source="api",
            shipment_id=big_ship,
        )
    assert queries(client, f"/orders/{big_order.pk}/") == queries(client, f"/orders/{small_order.pk}/")
    assert queries(client, f"/inventory/{big_sku}/") == queries(client, f"/inventory/{small_sku}/")
    as_of = (timezone.localdate() - timedelta(days=1)).isoformat()
    assert queries(client, f"/inventory/{big_sku}/?as_of={as_of}") == queries(
        client, f"/inventory/{small_sku}/?as_of={as_of}"
    )
    assert queries(client, f"/shipments/{big_ship}/") == queries(client, f"/shipments/{small_ship}/")


def quarantine(supplier, n: int) -> list[int]:
    """`n` JSON acknowledgements for a purchase order nobody knows: each is quarantined."""
    from suppliers import inbound

    found = []
    for i in range(n):
        body = json.dumps(
            {"document": "po_ack", "version": 1, "po_number": f"NO-SUCH-PO-{supplier.code}-{i}", "lines": []}
        ).encode()
        message = inbound.inbound_message_store(body=body, source="api", supplier=supplier)
        found.append(inbound.inbound_message_process(message_id=message.pk).pk)
    return found


def dead_deliveries(endpoint_id: int, codes: list[str], settings) -> None:
    """Customers defined (events the endpoint wants), fanned out and sent once: with one attempt
    allowed and nobody listening on the port, each delivery is dead at once."""
    from scm.events.store import read_stream
    from scm.webhooks import services as hooks

    settings.WEBHOOK_MAX_ATTEMPTS = 1
    settings.OUTBOUND_BREAKER_FAILURE_THRESHOLD = 1000  # every delivery is tried (and dies), none waits
    for code in codes:
        orders.customer_upsert(code=code, name="webhook test")
        for event in read_stream(f"customer-{code}"):
            hooks.webhook_deliveries_fan_out(event)
    hooks.webhook_deliveries_send_due(endpoint_id=endpoint_id)


@pytest.mark.usefixtures("committed_db")
def test_supplier_exception_and_webhook_pages_cost_the_same_queries_with_ten_times_the_data(unique, settings):
    from scm.webhooks import services as hooks
    from suppliers import services as suppliers

    client = ops_client(unique)
    supplier = suppliers.supplier_upsert(code=f"QS-{unique}", name="Query supplier")
    endpoint = hooks.webhook_endpoint_create(
        url="http://127.0.0.1:9/never", secret="s", event_types=["CustomerDefined"], description=f"q {unique}"
    )
    try:
        small = quarantine(supplier, 2)
        dead_deliveries(endpoint.pk, [f"QW0-{unique}"], settings)
        pages = ("/", "/supplier-exceptions/", f"/supplier-exceptions/messages/{small[0]}/", "/webhooks/dead/")
        before = {path: queries(client, path) for path in pages}
        big = quarantine(supplier, 18)
        dead_deliveries(endpoint.pk, [f"QW{n + 1}-{unique}" for n in range(10)], settings)
        after = {path.replace(str(small[0]), str(big[-1])): count for path, count in before.items()}
        assert {path: queries(client, path) for path in after} == after
    finally:
        hooks.webhook_endpoint_update(endpoint_id=endpoint.pk, active=False)
