"""Every status code an operation can answer is in its OpenAPI entry (issue 13).

schemathesis (test_schemathesis.py) checks what fuzzing reaches; these cover what it cannot reach by
chance: the errors every operation shares, and domain conflicts that need a particular state.
"""

from __future__ import annotations

import pytest

from scm.roles import OPS, PLANNER
from tests.api.helpers import assert_error, client_for
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(unique) -> dict:
    response = client_for(f"ops-{unique}", OPS).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


def test_every_operation_documents_the_errors_every_request_can_meet(schema):
    missing = []
    for method, path, operation in _operations(schema):
        documented = set(operation["responses"])
        expected = {"400", "503"}
        if path != "/api/v1/auth/token/":
            expected |= {"401", "403", "429"}
        if "{" in path:
            expected.add("404")
        if method in ("POST", "PUT", "PATCH"):
            expected |= {"413", "415"}
        if expected - documented:
            missing.append(f"{method} {path}: {sorted(expected - documented)}")
    assert missing == []


def test_every_error_response_is_the_one_error_shape(schema):
    for method, path, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)


def test_cancelling_a_purchase_order_twice_answers_a_documented_409(schema, unique):
    ops = client_for(f"ops2-{unique}", OPS)
    planner = client_for(f"planner-{unique}", PLANNER)
    assert ops.post("/api/v1/suppliers/", {"code": f"S-{unique}", "name": "S"}, format="json").status_code == 201
    sku, dc = ItemFactory(sku=f"A-{unique}").sku, LocationFactory(code=f"DC-{unique}").code
    order = planner.post(
        "/api/v1/purchase-orders/",
        {"number": f"PO-{unique}", "supplier": f"S-{unique}", "destination": dc,
         "lines": [{"sku": sku, "qty": 1, "unit_price": "1.00"}]},
        format="json",
    )  # fmt: skip
    assert order.status_code == 201, order.content
    url = f"/api/v1/purchase-orders/{order.json()['id']}/cancel/"
    assert planner.post(url, {"reason": "not needed"}, format="json").status_code == 200
    assert_error(planner.post(url, {"reason": "again"}, format="json"), 409, "purchase_order_state")
    assert "409" in schema["paths"]["/api/v1/purchase-orders/{po_id}/cancel/"]["post"]["responses"]
