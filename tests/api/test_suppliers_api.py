"""Suppliers, supplier items and purchase orders over the API, with real tokens, roles and supplier binding."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scm.roles import INTEGRATION
from suppliers import services
from suppliers.adapters.x12 import map_850, read_interchange
from suppliers.models import OutboundMessage
from tests.api.helpers import client_for
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def net(unique, ops):
    response = ops.post(
        "/api/v1/suppliers/",
        {"code": f"SUP-{unique}", "name": "Acme", "isa_id": f"ACME{unique}", "formats": ["x12", "json"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return {
        "supplier": f"SUP-{unique}",
        "isa_id": f"ACME{unique}",
        "sku": ItemFactory(sku=f"A-{unique}").sku,
        "dc": LocationFactory(code=f"DC-{unique}").code,
    }


def test_supplier_crud_by_code(ops, planner, net, unique):
    url = f"/api/v1/suppliers/{net['supplier']}/"
    body = ops.get(url).json()
    assert {
        k: body[k] for k in ("code", "name", "isa_id", "isa_qualifier", "formats", "active", "poll_interval_seconds")
    } == {
        "code": net["supplier"],
        "name": "Acme",
        "isa_id": f"ACME{unique}",
        "isa_qualifier": "ZZ",
        "formats": ["x12", "json"],
        "active": True,
        "poll_interval_seconds": 300,
    }
    assert ops.patch(url, {"name": "Acme Ltd", "poll_interval_seconds": 60}, format="json").json()["name"] == "Acme Ltd"
    assert_error(ops.patch(url, {"poll_interval_seconds": 5}, format="json"), 400, "invalid")
    assert_error(ops.patch(url, {"formats": ["tradacoms"]}, format="json"), 400, "invalid")
    assert_error(
        ops.post("/api/v1/suppliers/", {"code": net["supplier"], "name": "Again"}, format="json"), 409, "already_exists"
    )
    taken = ops.post(
        "/api/v1/suppliers/", {"code": f"S2-{unique}", "name": "Copy", "isa_id": f"ACME{unique}"}, format="json"
    )
    assert_error(taken, 409, "conflict")
    assert ops.put(f"/api/v1/suppliers/NEW-{unique}/", {"name": "New"}, format="json").status_code == 201
    assert_error(planner.patch(url, {"name": "x"}, format="json"), 403, "permission_denied")
    assert planner.get("/api/v1/suppliers/").status_code == 200
    assert ops.delete(url).status_code == 204
    assert ops.get(url).json()["active"] is False
    assert_error(ops.get("/api/v1/suppliers/NOPE-x/"), 404, "supplier_not_found")


def test_supplier_items_map_parts_to_existing_skus(ops, net, unique):
    created = ops.post(
        "/api/v1/supplier-items/",
        {"supplier": net["supplier"], "supplier_part": "P-1", "sku": net["sku"], "pack_size": 12},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert {k: created.json()[k] for k in ("supplier", "supplier_part", "sku", "pack_size", "lead_time_days")} == {
        "supplier": net["supplier"],
        "supplier_part": "P-1",
        "sku": net["sku"],
        "pack_size": 12,
        "lead_time_days": 7,
    }
    again = ops.post(
        "/api/v1/supplier-items/",
        {"supplier": net["supplier"], "supplier_part": "P-1", "sku": net["sku"]},
        format="json",
    )
    assert (again.status_code, again.json()["id"], again.json()["pack_size"]) == (200, created.json()["id"], 1)
    assert_error(
        ops.post(
            "/api/v1/supplier-items/",
            {"supplier": net["supplier"], "supplier_part": "P-2", "sku": "NOPE"},
            format="json",
        ),
        422,
        "unknown_sku",
    )
    listed = ops.get("/api/v1/supplier-items/", {"supplier": net["supplier"]}).json()["results"]
    assert [row["supplier_part"] for row in listed] == ["P-1"]
    item_url = f"/api/v1/supplier-items/{created.json()['id']}/"
    assert ops.patch(item_url, {"lead_time_days": 21}, format="json").json()["lead_time_days"] == 21
    assert ops.delete(item_url).status_code == 204
    assert_error(ops.get(item_url), 404, "supplier_item_not_found")


def test_purchase_order_create_send_receive_over_the_api(ops, planner, net, unique):
    body = {
        "number": f"PO-{unique}",
        "supplier": net["supplier"],
        "destination": net["dc"],
        "lines": [{"sku": net["sku"], "qty": 8, "unit_price": "3.25"}],
    }
    created = planner.post("/api/v1/purchase-orders/", body, format="json")
    assert created.status_code == 201, created.content
    order = created.json()
    assert (order["status"], order["supplier"], order["lines"][0]["qty"], order["lines"][0]["unit_price"]) == (
        "DRAFT",
        net["supplier"],
        8,
        "3.2500",
    )
    assert_error(planner.post("/api/v1/purchase-orders/", body, format="json"), 409, "duplicate_purchase_order")
    assert_error(
        planner.post("/api/v1/purchase-orders/", {**body, "number": f"X-{unique}", "supplier": "NOPE"}, format="json"),
        422,
        "unknown_supplier",
    )
    assert_error(
        planner.post("/api/v1/purchase-orders/", {**body, "number": f"Y-{unique}", "lines": []}, format="json"),
        400,
        "invalid",
    )

    sent = planner.post(f"/api/v1/purchase-orders/{order['id']}/send/")
    assert sent.status_code == 200, sent.content
    assert sent.json()["status"] == "SENT"
    [outbound] = sent.json()["outbound"]
    assert (outbound["kind"], outbound["isa_control"], outbound["gs_control"], outbound["st_control"]) == (
        "850",
        "1",
        "1",
        "1",
    )
    raw = bytes(OutboundMessage.objects.get(pk=outbound["id"]).body)
    assert map_850(next(read_interchange(raw).transaction_sets("850"))).po_number == f"PO-{unique}"
    assert_error(planner.post(f"/api/v1/purchase-orders/{order['id']}/send/"), 409, "purchase_order_state")

    assert_error(
        planner.post(f"/api/v1/purchase-orders/{order['id']}/receive/", {}, format="json"), 403, "permission_denied"
    )
    received = ops.post(
        f"/api/v1/purchase-orders/{order['id']}/receive/", {"lines": [{"line_no": 1, "qty": 3}]}, format="json"
    )
    assert received.status_code == 200, received.content
    assert (received.json()["status"], received.json()["lines"][0]["qty_received"]) == ("PARTIALLY_RECEIVED", 3)
    assert_error(
        ops.post(
            f"/api/v1/purchase-orders/{order['id']}/receive/", {"lines": [{"line_no": 1, "qty": 0}]}, format="json"
        ),
        400,
        "invalid",
    )
    closed = planner.post(f"/api/v1/purchase-orders/{order['id']}/close/", {"reason": "short"}, format="json")
    assert closed.json()["status"] == "CLOSED"
    listed = planner.get("/api/v1/purchase-orders/", {"status": "CLOSED", "supplier": net["supplier"]}).json()
    assert [row["number"] for row in listed["results"]] == [f"PO-{unique}"]
    assert_error(planner.get("/api/v1/purchase-orders/999999999/"), 404, "purchase_order_not_found")


def test_list_query_count_stays_flat(ops, net, unique):
    for n in range(3):
        services.purchase_order_create(
            number=f"Q{n}-{unique}",
            supplier=net["supplier"],
            destination=net["dc"],
            lines=[{"sku": net["sku"], "qty": 1, "unit_price": 1}],
        )
    with CaptureQueriesContext(connection) as few:
        ops.get("/api/v1/purchase-orders/", {"supplier": net["supplier"], "limit": 1})
    with CaptureQueriesContext(connection) as many:
        ops.get("/api/v1/purchase-orders/", {"supplier": net["supplier"], "limit": 3})
    assert len(many) == len(few)


def test_a_supplier_bound_token_sees_only_its_supplier(ops, net, unique):
    other = services.supplier_upsert(code=f"OTHER-{unique}", name="Other", isa_id=f"OTH{unique}")
    mine = services.purchase_order_create(
        number=f"M-{unique}",
        supplier=net["supplier"],
        destination=net["dc"],
        lines=[{"sku": net["sku"], "qty": 1, "unit_price": 1}],
    )
    theirs = services.purchase_order_create(
        number=f"T-{unique}",
        supplier=other.code,
        destination=net["dc"],
        lines=[{"sku": net["sku"], "qty": 1, "unit_price": 1}],
    )
    bound = client_for(f"bound-{unique}", INTEGRATION, net["supplier"])
    assert bound.get(f"/api/v1/purchase-orders/{mine.pk}/").status_code == 200
    assert_error(bound.get(f"/api/v1/purchase-orders/{theirs.pk}/"), 404, "purchase_order_not_found")
    assert [row["number"] for row in bound.get("/api/v1/purchase-orders/").json()["results"]] == [f"M-{unique}"]
    assert [row["code"] for row in bound.get("/api/v1/suppliers/").json()["results"]] == [net["supplier"]]
    assert_error(bound.get(f"/api/v1/suppliers/{other.code}/"), 404, "supplier_not_found")
    assert_error(bound.post(f"/api/v1/purchase-orders/{mine.pk}/send/"), 403, "permission_denied")


def test_purchase_order_create_honours_idempotency_key(planner, net, unique):
    body = {
        "number": f"IK-{unique}",
        "supplier": net["supplier"],
        "destination": net["dc"],
        "lines": [{"sku": net["sku"], "qty": 2, "unit_price": "1"}],
    }
    first = planner.post("/api/v1/purchase-orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{unique}")
    again = planner.post("/api/v1/purchase-orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{unique}")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
