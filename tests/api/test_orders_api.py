"""Orders over the API: create (idempotent), list with cursor pagination and filters, detail with lines,
allocations and the workflow, cancel, retry and the event history — with real tokens and roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import services as inventory
from inventory.models import Balance
from orders import services as orders
from orders.models import OrderStatus, SalesOrder
from scm.api.models import IdempotencyRecord
from scm.api.services import idempotency_records_purge
from scm.events.store import read_stream
from scm.roles import INTEGRATION, PLANNER
from tests.api.helpers import assert_error, client_for
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def net(unique):
    """Customer, SKUs A and B, warehouses W1 (rank 1) and W2 (rank 2): A has 3 in W1 and 4 in W2, B none."""
    orders.customer_upsert(code=f"C-{unique}", name="Customer")
    codes = {
        "customer": f"C-{unique}",
        "A": ItemFactory(sku=f"A-{unique}").sku,
        "B": ItemFactory(sku=f"B-{unique}").sku,
        "W1": LocationFactory(code=f"W1-{unique}", allocation_rank=1).code,
        "W2": LocationFactory(code=f"W2-{unique}", allocation_rank=2).code,
    }
    inventory.stock_receive(sku=codes["A"], location=codes["W1"], qty=3, reference="open")
    inventory.stock_receive(sku=codes["A"], location=codes["W2"], qty=4, reference="open")
    return codes


def order_body(net, external_id: str = "SO-1", **overrides) -> dict:
    body = {
        "customer": net["customer"],
        "external_id": external_id,
        "priority": 2,
        "lines": [{"sku": net["A"], "qty": 5}, {"sku": net["B"], "qty": 1}],
    }
    return {**body, **overrides}


# --- Create -----------------------------------------------------------------------------------


def test_creating_an_order_answers_201_with_the_order(integration, net, unique):
    response = integration.post(
        "/api/v1/orders/",
        order_body(net, requested_date="2030-01-31", ship_to="1 Dock Road"),
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"k-{unique}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    order = SalesOrder.objects.get(pk=body["id"])
    assert body["status"] == "CREATED"
    assert (body["customer"], body["external_id"], body["priority"]) == (net["customer"], "SO-1", 2)
    assert (body["requested_date"], body["ship_to"]) == ("2030-01-31", "1 Dock Road")
    assert body["lines"] == [
        {
            "line_no": 1,
            "sku": net["A"],
            "qty": 5,
            "reserved": 0,
            "shipped": 0,
            "delivered": 0,
            "cancelled": 0,
            "backordered": 5,
            "allocations": [],
        },
        {
            "line_no": 2,
            "sku": net["B"],
            "qty": 1,
            "reserved": 0,
            "shipped": 0,
            "delivered": 0,
            "cancelled": 0,
            "backordered": 1,
            "allocations": [],
        },
    ]
    assert body["workflow"]["step"] == "reserve"
    assert (body["workflow"]["attempts"], body["workflow"]["last_error"]) == (0, "")
    assert order.idempotency_key == f"k-{unique}"
    created = read_stream(f"order-{order.pk}")[0]
    assert created.type == "OrderCreated"
    assert created.metadata["actor"] == f"user:int-{unique}"


def test_the_same_idempotency_key_returns_the_first_order_and_creates_nothing(planner, net, unique):
    key = f"retry-{unique}"
    first = planner.post("/api/v1/orders/", order_body(net), format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = planner.post("/api/v1/orders/", order_body(net), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert SalesOrder.objects.filter(customer__code=net["customer"]).count() == 1

    other = planner.post("/api/v1/orders/", order_body(net, priority=3), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert_error(other, 422, "idempotency_key_reused")
    assert SalesOrder.objects.filter(customer__code=net["customer"]).count() == 1


def test_a_retry_after_the_api_record_was_purged_still_finds_the_order(planner, net, unique):
    key = f"late-{unique}"
    first = planner.post("/api/v1/orders/", order_body(net), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201
    idempotency_records_purge(now=timezone.now() + timedelta(days=30))
    assert not IdempotencyRecord.objects.filter(key=key).exists()

    late = planner.post("/api/v1/orders/", order_body(net), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert late.status_code == 200
    assert late["Idempotent-Replayed"] == "true"
    assert late.json()["id"] == first.json()["id"]
    assert SalesOrder.objects.filter(customer__code=net["customer"]).count() == 1


def test_an_idempotency_key_longer_than_the_order_column_still_works(planner, net):
    key = "K" * 255
    first = planner.post("/api/v1/orders/", order_body(net), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201, first.content
    order = SalesOrder.objects.get(pk=first.json()["id"])
    assert order.idempotency_key.startswith("sha256:") and len(order.idempotency_key) == 71


def test_without_a_key_a_repeated_external_id_is_a_409(planner, net):
    first = planner.post("/api/v1/orders/", order_body(net), format="json")
    assert first.status_code == 201
    error = assert_error(planner.post("/api/v1/orders/", order_body(net), format="json"), 409, "duplicate_external_id")
    assert error["fields"] == {"customer": net["customer"], "external_id": "SO-1", "order": first.json()["id"]}


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"customer": "NOBODY"}, 422, "unknown_customer", "customer"),
        ({"lines": [{"sku": "NO-SUCH-SKU", "qty": 1}]}, 422, "unknown_sku", "sku"),
        ({"lines": [{"sku": "A", "qty": -1}]}, 400, "invalid", "lines"),
        ({"lines": [{"sku": "A", "qty": 0}]}, 400, "invalid", "lines"),
        ({"lines": [{"sku": "A", "qty": "3"}]}, None, None, None),
        ({"lines": [{"sku": "A", "qty": 2.5}]}, 400, "invalid", "lines"),
        ({"lines": [{"sku": "A"}]}, 400, "invalid", "lines"),
        ({"lines": []}, 400, "invalid", "lines"),
        ({"lines": "A x 3"}, 400, "invalid", "lines"),
        ({"lines": [{"sku": "A", "qty": 1}, {"sku": "A", "qty": 2}]}, 400, "invalid_order", "sku"),
        ({"priority": 10}, 400, "invalid", "priority"),
        ({"priority": "urgent"}, 400, "invalid", "priority"),
        ({"external_id": ""}, 400, "invalid", "external_id"),
        ({"requested_date": "next week"}, 400, "invalid", "requested_date"),
        ({"customer": None}, 400, "invalid", "customer"),
    ],
)
def test_bad_orders_answer_4xx_and_create_nothing(planner, net, change, status, code, field):
    body = order_body(net, **change)
    for line in body["lines"] if isinstance(body["lines"], list) else []:
        if line.get("sku") == "A":
            line["sku"] = net["A"]
    before = SalesOrder.objects.count()
    response = planner.post("/api/v1/orders/", body, format="json")
    if status is None:  # a numeric string is a whole number to DRF: accepted
        assert response.status_code == 201
        return
    error = assert_error(response, status, code)
    assert field in error["fields"]
    assert SalesOrder.objects.count() == before


def test_missing_fields_and_malformed_json(planner):
    error = assert_error(planner.post("/api/v1/orders/", {}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"customer", "external_id", "lines"}
    assert_error(
        planner.post("/api/v1/orders/", '{"customer": ', content_type="application/json"), 400, "malformed_request"
    )


def test_roles_for_orders(net, unique):
    integration = client_for(f"i-{unique}", INTEGRATION)
    created = integration.post("/api/v1/orders/", order_body(net), format="json")
    assert created.status_code == 201
    order_id = created.json()["id"]
    assert integration.get(f"/api/v1/orders/{order_id}/").status_code == 200
    assert_error(
        integration.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "x"}, format="json"), 403, "permission_denied"
    )
    planner = client_for(f"p-{unique}", PLANNER)
    assert_error(planner.post(f"/api/v1/orders/{order_id}/retry/"), 403, "permission_denied")
    bound = client_for(f"s-{unique}", INTEGRATION, supplier=f"SUP-{unique}")
    assert_error(bound.get(f"/api/v1/orders/{order_id}/"), 403, "permission_denied")
    assert_error(bound.post("/api/v1/orders/", order_body(net, "SO-2"), format="json"), 403, "permission_denied")
    assert SalesOrder.objects.get(pk=order_id).status == OrderStatus.CREATED


# --- Read -------------------------------------------------------------------------------------


def test_detail_shows_allocations_backorders_and_the_workflow(planner, net):
    order_id = planner.post("/api/v1/orders/", order_body(net), format="json").json()["id"]
    orders.order_allocate(order_id=order_id)

    body = planner.get(f"/api/v1/orders/{order_id}/").json()
    assert body["status"] == "BACKORDERED"
    # The split takes the location with most available first (W2: 4), then W1 for the rest.
    line_a, line_b = body["lines"]
    assert (line_a["qty"], line_a["reserved"], line_a["backordered"]) == (5, 5, 0)
    assert line_a["allocations"] == [
        {"location": net["W1"], "qty": 1, "reserved": 1, "shipped": 0},
        {"location": net["W2"], "qty": 4, "reserved": 4, "shipped": 0},
    ]
    assert (line_b["reserved"], line_b["backordered"], line_b["allocations"]) == (0, 1, [])
    assert body["workflow"]["step"] == "await_stock"


def test_unknown_and_impossible_order_ids_answer_404(planner):
    for url in (
        "/api/v1/orders/999999999999/",
        "/api/v1/orders/99999999999999999999999/",
        "/api/v1/orders/99999999999999999999999/events/",
    ):
        assert_error(planner.get(url), 404, "order_not_found")
    assert_error(planner.get("/api/v1/orders/abc/"), 404, "not_found")


def test_list_filters_by_status_and_customer_and_pages_with_a_cursor(planner, net, unique):
    ids = [planner.post("/api/v1/orders/", order_body(net, f"L-{n}"), format="json").json()["id"] for n in range(3)]
    orders.order_cancel(order_id=ids[0], reason="test", actor="test")

    page = planner.get(f"/api/v1/orders/?customer={net['customer']}&limit=2").json()
    assert [row["id"] for row in page["results"]] == [ids[2], ids[1]]
    assert "lines" not in page["results"][0]
    rest = planner.get(page["next"]).json()
    assert [row["id"] for row in rest["results"]] == [ids[0]]
    assert rest["next"] is None

    cancelled = planner.get(f"/api/v1/orders/?customer={net['customer']}&status=CANCELLED").json()
    assert [(row["id"], row["status"], row["status_reason"]) for row in cancelled["results"]] == [
        (ids[0], "CANCELLED", "test")
    ]
    assert planner.get(f"/api/v1/orders/?customer=NOBODY-{unique}").json()["results"] == []


def test_list_query_errors(planner):
    assert set(assert_error(planner.get("/api/v1/orders/?status=LOST"), 400, "invalid")["fields"]) == {"status"}
    assert_error(planner.get("/api/v1/orders/?cursor=forged"), 400, "invalid_cursor")
    assert set(assert_error(planner.get("/api/v1/orders/?limit=0"), 400, "invalid")["fields"]) == {"limit"}


def test_order_list_and_detail_queries_stay_flat_as_data_grows(planner, net, django_assert_max_num_queries):
    def create(n: int, prefix: str, lines: int = 1) -> int:
        skus = [ItemFactory(sku=f"{prefix}-{i}-{net['customer']}").sku for i in range(lines)]
        last = 0
        for i in range(n):
            last = orders.order_create(
                customer=net["customer"],
                external_id=f"{prefix}-{i}",
                lines=[{"sku": sku, "qty": 1} for sku in skus],
                start_workflow=False,
            )[0].pk
        return last

    small = create(3, "S", lines=2)
    url = f"/api/v1/orders/?customer={net['customer']}&limit=1000"
    with CaptureQueriesContext(connection) as list_queries:
        assert len(planner.get(url).json()["results"]) == 3
    with CaptureQueriesContext(connection) as detail_queries:
        assert len(planner.get(f"/api/v1/orders/{small}/").json()["lines"]) == 2

    big = create(30, "B", lines=20)
    with django_assert_max_num_queries(len(list_queries)):
        assert len(planner.get(url).json()["results"]) == 33
    with django_assert_max_num_queries(len(detail_queries)):
        assert len(planner.get(f"/api/v1/orders/{big}/").json()["lines"]) == 20


# --- Actions ----------------------------------------------------------------------------------


def test_ops_cancel_an_order_which_releases_its_reservations(ops, net, unique):
    order_id = ops.post("/api/v1/orders/", order_body(net), format="json").json()["id"]
    orders.order_allocate(order_id=order_id)
    assert sum(Balance.objects.filter(item__sku=net["A"]).values_list("reserved", flat=True)) == 5

    response = ops.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "customer called"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["status_reason"]) == ("CANCELLED", "customer called")
    assert [line["cancelled"] for line in body["lines"]] == [5, 1]
    assert body["workflow"]["step"] == "cancelled"
    assert sum(Balance.objects.filter(item__sku=net["A"]).values_list("reserved", flat=True)) == 0
    cancelled = read_stream(f"order-{order_id}")[-1]
    assert (cancelled.type, cancelled.payload["actor"]) == ("OrderCancelled", f"user:ops-{unique}")

    again = ops.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "twice"}, format="json")
    error = assert_error(again, 409, "illegal_transition")
    assert error["fields"] == {"order": order_id, "status": "CANCELLED", "action": "cancel"}


def test_cancelling_a_fulfilled_order_is_a_409(ops, net):
    body = order_body(net, lines=[{"sku": net["A"], "qty": 2}])
    order_id = ops.post("/api/v1/orders/", body, format="json").json()["id"]
    orders.order_allocate(order_id=order_id)
    order = SalesOrder.objects.get(pk=order_id)
    line = order.lines.get()
    shipped = [{"holder": line.holder, "location": net["W1"], "qty": 2}]
    orders.order_record_shipment_planned(order_ref=order.stream, shipment_id=1, from_location=net["W1"], lines=shipped)
    orders.order_record_shipment_departed(order_ref=order.stream, shipment_id=1, lines=shipped)
    orders.order_record_shipment_delivered(order_ref=order.stream, shipment_id=1, lines=shipped)
    assert SalesOrder.objects.get(pk=order_id).status == OrderStatus.FULFILLED

    error = assert_error(
        ops.post(f"/api/v1/orders/{order_id}/cancel/", {"reason": "late"}, format="json"), 409, "illegal_transition"
    )
    assert error["fields"]["status"] == "FULFILLED"
    assert SalesOrder.objects.get(pk=order_id).status == OrderStatus.FULFILLED


def test_cancel_needs_a_reason_and_an_existing_order(ops, net):
    order_id = ops.post("/api/v1/orders/", order_body(net), format="json").json()["id"]
    assert set(
        assert_error(ops.post(f"/api/v1/orders/{order_id}/cancel/", {}, format="json"), 400, "invalid")["fields"]
    ) == {"reason"}
    assert_error(
        ops.post("/api/v1/orders/987654321098/cancel/", {"reason": "x"}, format="json"), 404, "order_not_found"
    )
    assert_error(ops.get(f"/api/v1/orders/{order_id}/cancel/"), 405, "method_not_allowed")
    assert SalesOrder.objects.get(pk=order_id).status == OrderStatus.CREATED


def test_ops_retry_a_failed_order(ops, net):
    order_id = ops.post("/api/v1/orders/", order_body(net), format="json").json()["id"]
    assert_error(ops.post(f"/api/v1/orders/{order_id}/retry/"), 409, "illegal_transition")
    orders.order_fail(order_id=order_id, reason="TMS down", step="plan_shipment", attempts=6)

    response = ops.post(f"/api/v1/orders/{order_id}/retry/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CREATED"
    assert response.json()["workflow"]["step"] == "reserve"
    assert [e.type for e in read_stream(f"order-{order_id}")][-1] == "OrderRetried"


def test_events_show_the_stream_and_the_readable_history(planner, net, unique):
    order_id = planner.post("/api/v1/orders/", order_body(net), format="json").json()["id"]
    orders.order_allocate(order_id=order_id)
    body = planner.get(f"/api/v1/orders/{order_id}/events/").json()
    assert body["order"] == order_id
    assert [e["type"] for e in body["events"]] == ["OrderCreated", "OrderBackordered"]
    assert [e["version"] for e in body["events"]] == [1, 2]
    assert body["events"][0]["stream"] == f"order-{order_id}"
    assert [h["type"] for h in body["history"]] == ["OrderCreated", "OrderBackordered"]
    assert body["history"][0]["who"] == f"user:planner-{unique}"
    assert body["history"][0]["what"] == "Order created with 2 line(s)"
    assert body["history"][1]["what"] == "Backordered 1 unit(s); reserved 5"


def test_a_body_over_the_size_limit_answers_413_before_anything_is_read(planner, net, settings):
    settings.API_MAX_BODY_BYTES = 2048
    body = order_body(net, ship_to="x" * 4096)
    error = assert_error(planner.post("/api/v1/orders/", body, format="json"), 413, "payload_too_large")
    assert error["fields"]["max_bytes"] == 2048
    assert not SalesOrder.objects.filter(customer__code=net["customer"]).exists()
