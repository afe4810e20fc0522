"""Master data over the API: items, locations and customers, addressed by their keys, with real tokens.

Reads are open to every role, writes to ops only; deleting deactivates (history keeps pointing at
the row); every write goes through the domain services and so records its *Defined event.

Most tests run in a rolled-back transaction (`db`); the create race needs real commits (`committed_db`).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from inventory import services as inventory
from inventory.models import Item, Location
from orders.models import Customer
from scm.events.store import read_stream
from scm.roles import INTEGRATION, OPS, PLANNER
from tests.api.helpers import assert_error, client_for
from tests.factories import ItemFactory, LocationFactory


@pytest.fixture
def ops(db, unique):
    return client_for(f"ops-{unique}", OPS)


@pytest.fixture
def planner(db, unique):
    return client_for(f"planner-{unique}", PLANNER)


# --- Items ------------------------------------------------------------------------------------


def test_ops_create_read_change_and_deactivate_an_item_by_sku(ops, unique):
    sku = f"BOLT-{unique}"
    created = ops.post(
        "/api/v1/items/", {"sku": sku, "name": "Bolt M8", "pack_size": 50, "reorder_point": 200}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json() == {
        "sku": sku,
        "name": "Bolt M8",
        "unit": "EA",
        "pack_size": 50,
        "active": True,
        "reorder_point": 200,
        "safety_stock": 0,
        "min_qty": 0,
        "max_qty": None,
        "lead_time_days": 7,
    }

    assert ops.get(f"/api/v1/items/{sku}/").json()["name"] == "Bolt M8"

    patched = ops.patch(f"/api/v1/items/{sku}/", {"name": "Bolt M8 zinc", "max_qty": 900}, format="json")
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["max_qty"], patched.json()["pack_size"]) == ("Bolt M8 zinc", 900, 50)

    deleted = ops.delete(f"/api/v1/items/{sku}/")
    assert deleted.status_code == 204
    assert Item.objects.get(sku=sku).active is False
    assert ops.get(f"/api/v1/items/{sku}/").json()["active"] is False

    events = read_stream(f"item-{sku}")
    assert [e.type for e in events] == ["ItemDefined"] * 3
    assert [e.payload["active"] for e in events] == [True, True, False]
    assert events[1].metadata["actor"] == f"user:ops-{unique}"


def test_put_creates_then_replaces_with_defaults_for_omitted_fields(ops, unique):
    sku = f"NUT-{unique}"
    first = ops.put(f"/api/v1/items/{sku}/", {"name": "Nut", "pack_size": 10, "safety_stock": 5}, format="json")
    assert first.status_code == 201
    second = ops.put(f"/api/v1/items/{sku}/", {"name": "Nut M8"}, format="json")
    assert second.status_code == 200
    assert (second.json()["name"], second.json()["pack_size"], second.json()["safety_stock"]) == ("Nut M8", 1, 0)


def test_creating_an_existing_sku_answers_409_and_changes_nothing(ops, unique):
    item = ItemFactory(sku=f"DUP-{unique}", name="Original")
    response = ops.post("/api/v1/items/", {"sku": item.sku, "name": "Impostor"}, format="json")
    error = assert_error(response, 409, "already_exists")
    assert error["fields"] == {"sku": item.sku}
    assert Item.objects.get(sku=item.sku).name == "Original"


def test_items_list_filters_by_search_and_is_paginated(planner, unique):
    for n in range(3):
        ItemFactory(sku=f"LST{n}-{unique}")
    response = planner.get(f"/api/v1/items/?search={unique}&limit=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [row["sku"] for row in body["results"]] == [f"LST0-{unique}", f"LST1-{unique}"]
    assert body["next"] is not None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x"}, "sku"),
        ({"sku": "S", "name": ""}, "name"),
        ({"sku": "S", "name": "x", "pack_size": 0}, "pack_size"),
        ({"sku": "S", "name": "x", "pack_size": "many"}, "pack_size"),
        ({"sku": "S", "name": "x", "safety_stock": -1}, "safety_stock"),
        ({"sku": "S", "name": "x", "lead_time_days": 10**12}, "lead_time_days"),
        ({"sku": "S" * 65, "name": "x"}, "sku"),
        ({"sku": "A/B", "name": "x"}, "sku"),
        ({"sku": "NUL\x00", "name": "x"}, "sku"),
    ],
)
def test_bad_item_payloads_answer_400_naming_the_field_and_write_nothing(ops, payload, field):
    before = Item.objects.count()
    error = assert_error(ops.post("/api/v1/items/", payload, format="json"), 400, "invalid")
    assert field in error["fields"]
    assert Item.objects.count() == before


def test_a_sku_with_surrounding_spaces_is_refused_by_the_service(ops):
    error = assert_error(ops.post("/api/v1/items/", {"sku": " PAD ", "name": "x"}, format="json"), 400, "invalid")
    assert error["fields"] == {"sku": " PAD "}


def test_malformed_json_and_form_bodies_are_refused(ops):
    assert_error(ops.post("/api/v1/items/", "{not json", content_type="application/json"), 400, "malformed_request")
    assert_error(ops.post("/api/v1/items/", {"sku": "F", "name": "x"}), 415, "unsupported_media_type")
    assert_error(ops.post("/api/v1/items/", "[1, 2]", content_type="application/json"), 400, "invalid")


def test_unknown_items_answer_404_for_every_method(ops, unique):
    for method in ("get", "patch", "delete"):
        response = getattr(ops, method)(f"/api/v1/items/NOPE-{unique}/", {}, format="json")
        error = assert_error(response, 404, "item_not_found")
        assert error["fields"] == {"sku": f"NOPE-{unique}"}
    assert_error(ops.get("/api/v1/items/%00/"), 404, "item_not_found")


def test_wrong_methods_answer_405(ops, unique):
    assert_error(ops.delete("/api/v1/items/"), 405, "method_not_allowed")
    assert_error(ops.post(f"/api/v1/items/X-{unique}/", {}, format="json"), 405, "method_not_allowed")


def test_reads_for_every_role_writes_for_ops_only(db, unique):
    item = ItemFactory(sku=f"ROLE-{unique}")
    for role in (PLANNER, INTEGRATION):
        client = client_for(f"{role}-{unique}", role)
        assert client.get(f"/api/v1/items/{item.sku}/").status_code == 200
        assert_error(
            client.post("/api/v1/items/", {"sku": f"N-{role}-{unique}", "name": "x"}, format="json"),
            403,
            "permission_denied",
        )
        assert_error(client.patch(f"/api/v1/items/{item.sku}/", {"name": "y"}, format="json"), 403, "permission_denied")
        assert_error(client.delete(f"/api/v1/items/{item.sku}/"), 403, "permission_denied")
    assert Item.objects.get(sku=item.sku).active is True
    assert_error(APIClient().get("/api/v1/items/"), 401, "not_authenticated")


def test_a_supplier_bound_token_reads_items_and_locations_but_not_customers(db, unique):
    bound = client_for(f"sup-{unique}", INTEGRATION, supplier=f"SUP-{unique}")
    assert bound.get("/api/v1/items/").status_code == 200
    assert bound.get("/api/v1/locations/").status_code == 200
    assert_error(bound.get("/api/v1/customers/"), 403, "permission_denied")


def _wait_until_another_backend_waits_on_a_lock(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction pg_stat_activity is a snapshot taken once; take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the concurrent request never waited on the uncommitted item")


@pytest.mark.postgres
@pytest.mark.parametrize(("method", "status", "name"), [("post", 409, "First"), ("put", 200, "Second")])
def test_a_create_racing_another_for_the_same_sku_answers_409_or_updates_never_500(
    committed_db, unique, method, status, name
):
    """The other transaction inserted the SKU but has not committed: our INSERT waits on the unique
    index, then fails when it commits. A POST answers 409, a PUT becomes the update it now is."""
    ops = client_for(f"race-{method}-{unique}", OPS)
    sku = f"RACE-{method}-{unique}"
    answers = []

    def request() -> None:
        try:
            if method == "post":
                answers.append(ops.post("/api/v1/items/", {"sku": sku, "name": "Second"}, format="json"))
            else:
                answers.append(ops.put(f"/api/v1/items/{sku}/", {"name": "Second"}, format="json"))
        finally:
            connection.close()

    racer = threading.Thread(target=request)
    with transaction.atomic():
        inventory.item_upsert(sku=sku, name="First")
        racer.start()
        _wait_until_another_backend_waits_on_a_lock()
    racer.join(timeout=20)

    assert [answer.status_code for answer in answers] == [status], answers[0].content
    assert Item.objects.get(sku=sku).name == name
    if status == 409:
        assert answers[0].json()["error"]["code"] == "already_exists"


# --- Locations --------------------------------------------------------------------------------


def test_locations_crud_by_code(ops, unique):
    code = f"WH-{unique}"
    created = ops.post(
        "/api/v1/locations/", {"code": code, "name": "North", "kind": "store", "allocation_rank": 3}, format="json"
    )
    assert created.status_code == 201
    assert created.json() == {"code": code, "name": "North", "kind": "store", "active": True, "allocation_rank": 3}
    assert_error(ops.post("/api/v1/locations/", {"code": code, "name": "Again"}, format="json"), 409, "already_exists")
    assert ops.patch(f"/api/v1/locations/{code}/", {"allocation_rank": 1}, format="json").json()["allocation_rank"] == 1
    assert ops.put(f"/api/v1/locations/{code}/", {"name": "North DC"}, format="json").json() == {
        "code": code,
        "name": "North DC",
        "kind": "warehouse",
        "active": True,
        "allocation_rank": 100,
    }
    assert ops.delete(f"/api/v1/locations/{code}/").status_code == 204
    assert Location.objects.get(code=code).active is False
    assert [e.type for e in read_stream(f"location-{code}")] == ["LocationDefined"] * 4
    assert_error(ops.get(f"/api/v1/locations/NOWHERE-{unique}/"), 404, "location_not_found")


def test_a_location_kind_outside_the_choices_is_refused(ops, unique):
    error = assert_error(
        ops.post("/api/v1/locations/", {"code": f"K-{unique}", "name": "x", "kind": "moon"}, format="json"),
        400,
        "invalid",
    )
    assert set(error["fields"]) == {"kind"}


def test_locations_list_includes_inactive_ones(planner, unique):
    LocationFactory(code=f"OLD-{unique}", active=False)
    codes = [row["code"] for row in planner.get("/api/v1/locations/?limit=1000").json()["results"]]
    assert f"OLD-{unique}" in codes


# --- Customers --------------------------------------------------------------------------------


def test_customers_crud_by_code(ops, unique):
    code = f"CU-{unique}"
    created = ops.post("/api/v1/customers/", {"code": code, "name": "Acme"}, format="json")
    assert created.status_code == 201
    assert created.json() == {"code": code, "name": "Acme", "active": True}
    assert_error(ops.post("/api/v1/customers/", {"code": code, "name": "Acme 2"}, format="json"), 409, "already_exists")
    assert ops.patch(f"/api/v1/customers/{code}/", {"name": "Acme Ltd"}, format="json").json() == {
        "code": code,
        "name": "Acme Ltd",
        "active": True,
    }
    assert ops.delete(f"/api/v1/customers/{code}/").status_code == 204
    assert Customer.objects.get(code=code).active is False
    assert ops.get(f"/api/v1/customers/{code}/").json() == {"code": code, "name": "Acme Ltd", "active": False}
    assert [e.payload["active"] for e in read_stream(f"customer-{code}")] == [True, True, False]
    assert_error(ops.get(f"/api/v1/customers/NOBODY-{unique}/"), 404, "customer_not_found")


def test_customer_code_longer_than_the_column_is_a_400(ops):
    error = assert_error(ops.post("/api/v1/customers/", {"code": "C" * 33, "name": "x"}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"code"}
    error = assert_error(ops.put("/api/v1/customers/" + "C" * 33 + "/", {"name": "x"}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"code"}


def test_planner_reads_customers_but_cannot_write_them(planner, unique):
    assert planner.get("/api/v1/customers/").status_code == 200
    assert_error(
        planner.post("/api/v1/customers/", {"code": f"P-{unique}", "name": "x"}, format="json"),
        403,
        "permission_denied",
    )
