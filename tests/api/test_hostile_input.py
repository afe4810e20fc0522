"""Hostile bodies and parameters get a 4xx in the error shape, never a 500 (issues 13 and 14).

Each case reproduces a finding of the security pass or the schemathesis run: JSON nested 1,000
deep (RecursionError), a lone surrogate in a choice field, limit/offset beyond a bigint, a NUL in a
path, `?format=api` turning errors into HTML, an unexpected crash answered with an HTML page, and a
deadlock answered 500 instead of "retry".
"""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from inventory.models import Location
from scm.api.parsers import nesting_exceeds, unstorable_text
from scm.roles import OPS, PLANNER
from tests.api.helpers import assert_error, client_for
from tests.factories import stocked

pytestmark = pytest.mark.django_db

DEEP = "[" * 1000 + "]" * 1000


def _json_write_operations(ops: APIClient) -> list[tuple[str, str]]:
    paths = ops.get("/api/v1/schema/?format=json").json()["paths"]
    found = []
    for path, item in paths.items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}) if isinstance(operation, dict) else {}
            if "application/json" in content and "application/edi-x12" not in content:
                found.append((method, path))
    return found


def _objects(ops: APIClient, unique: str) -> dict[str, str]:
    """One existing object per path parameter, so the body is parsed rather than the lookup failing first."""
    key = f"X{unique}"
    for collection, body in (
        ("items", {"sku": key, "name": "x"}),
        ("locations", {"code": key, "name": "x", "kind": "store"}),
        ("customers", {"code": key, "name": "x"}),
        ("suppliers", {"code": key, "name": "x"}),
    ):
        assert ops.post(f"/api/v1/{collection}/", body, format="json").status_code == 201
    mapping = ops.post("/api/v1/supplier-items/", {"supplier": key, "supplier_part": "P", "sku": key}, format="json")
    endpoint = ops.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/", "secret": "s" * 20}, format="json")
    return {
        "code": key,
        "sku": key,
        "item_id": str(mapping.json()["id"]),
        "endpoint_id": str(endpoint.json()["id"]),
        "supplier": key,
        "document_type": "856",
    }


def _concrete(path: str, objects: dict[str, str]) -> str:
    """Path parameters without an object here (actions on orders, shipments...) get 1: they parse first."""
    return re.sub(r"\{(\w+)\}", lambda match: objects.get(match.group(1), "1"), path)


def test_json_nested_a_thousand_deep_is_a_400_on_every_json_write_endpoint(unique):
    ops = client_for(f"ops-{unique}", OPS)
    objects = _objects(ops, unique)
    operations = _json_write_operations(ops)
    assert ("post", "/api/v1/orders/") in operations and ("post", "/api/v1/auth/token/") in operations
    assert len(operations) > 30
    wrong = []
    for method, path in operations:
        client = APIClient() if path == "/api/v1/auth/token/" else ops
        response = getattr(client, method)(_concrete(path, objects), DEEP, content_type="application/json")
        body = response.json() if response["Content-Type"].startswith("application/json") else None
        if response.status_code != 400 or not body or body["error"]["fields"] != {"max_depth": 32}:
            wrong.append(f"{method.upper()} {path}: {response.status_code} {response.content[:200]!r}")
    assert not wrong, "\n".join(wrong)


def test_the_unauthenticated_token_endpoint_refuses_deep_json_before_parsing():
    response = APIClient().post("/api/v1/auth/token/", '{"username": ' + DEEP + "}", content_type="application/json")
    error = assert_error(response, 400, "malformed_request")
    assert error["message"] == "The JSON nests arrays and objects deeper than 32 levels."


def test_depth_counts_brackets_outside_strings_only():
    assert not nesting_exceeds('{"a": "[[[[[[[[[[[[", "b": "\\"[[[["}', 2)
    assert nesting_exceeds('{"a": [[{"b": 1}]]}', 3)
    assert not nesting_exceeds('{"a": [[{"b": 1}]]}', 4)


@pytest.mark.parametrize(
    "path, body, where",
    [
        ("/api/v1/locations/", '{"code": "L-%s", "name": "x", "kind": "\\ud800"}', "kind"),
        ("/api/v1/locations/", '{"code": "L-%s", "name": "x\\u0000y", "kind": "store"}', "name"),
        ("/api/v1/locations/", '{"code": "L-%s", "name": "x", "\\udfff": 1}', "\\udfff"),
    ],
)
def test_a_lone_surrogate_or_nul_in_a_field_is_a_400_naming_it_and_nothing_is_created(unique, path, body, where):
    ops = client_for(f"ops-{unique}", OPS)
    response = ops.post(path, body % unique, content_type="application/json")
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == [where]
    assert error["fields"][where][0].startswith("contains a ")
    assert not Location.objects.filter(code=f"L-{unique}").exists()


def test_a_lone_surrogate_in_the_adjustment_reason_is_a_400(unique):
    sku, location = stocked(unique, on_hand=5)
    planner = client_for(f"planner-{unique}", PLANNER)
    body = json.dumps({"sku": sku, "location": location, "qty": 1, "reason": "x"}).replace('"x"', '"\\ud800"')
    error = assert_error(planner.post("/api/v1/inventory/adjustments/", body, content_type="application/json"),
                         400, "invalid")  # fmt: skip
    surrogate = "contains a lone UTF-16 surrogate (an escape like \\ud800 that is not a character)"
    assert error["fields"] == {"reason": [surrogate]}


def test_unstorable_text_finds_the_first_bad_string_with_its_path():
    assert unstorable_text({"lines": [{"sku": "ok"}, {"sku": "a\x00"}]}) == (
        "lines[1].sku",
        "contains a NUL character (\\u0000)",
    )
    assert unstorable_text({"a": ["fine", 1, None, {"b": "é"}]}) is None


@pytest.mark.parametrize(
    "query",
    [
        "offset=-73&limit=1442044919845297848320",
        f"limit={2**63}",
        "limit=0",
        "limit=1001",
        "limit=abc",
        f"offset={2**31}",
        "offset=-1",
        "limit=%D9%A3",  # an Arabic-Indic digit: int() would take it, SQL would not expect it
    ],
)
def test_limit_and_offset_out_of_range_are_a_400_on_master_data_lists(unique, query):
    ops = client_for(f"ops-{unique}", OPS)
    assert ops.post("/api/v1/customers/", {"code": f"C-{unique}", "name": "x"}, format="json").status_code == 201
    planner = client_for(f"planner-{unique}", PLANNER)
    error = assert_error(planner.get(f"/api/v1/customers/?{query}"), 400, "invalid")
    assert set(error["fields"]) <= {"limit", "offset"}


def test_limit_and_offset_in_range_page_as_before(unique):
    planner = client_for(f"planner-{unique}", PLANNER)
    body = planner.get("/api/v1/items/?limit=1&offset=0").json()
    assert set(body) == {"count", "next", "previous", "results"} and len(body["results"]) <= 1


def test_a_nul_in_a_dashboard_path_is_a_404_not_a_500(unique):
    user = get_user_model().objects.create_user(username=f"p-{unique}")
    user.groups.add(Group.objects.get(name=PLANNER))
    client = Client()
    client.force_login(user)
    response = client.get("/inventory/%00/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_nul_in_a_dashboard_query_is_ignored_with_a_message_not_a_500(unique):
    user = get_user_model().objects.create_user(username=f"p-{unique}")
    user.groups.add(Group.objects.get(name=PLANNER))
    client = Client()
    client.force_login(user)
    for url in ("/orders/?status=%00", "/orders/?customer=%00", "/inventory/?q=%00", "/shipments/?carrier=%00"):
        assert client.get(url).status_code == 200, url


def test_format_api_answers_json_not_the_browsable_html(unique):
    planner = client_for(f"planner-{unique}", PLANNER)
    ok = planner.get("/api/v1/items/?format=api")
    assert (ok.status_code, ok["Content-Type"]) == (200, "application/json")
    refused = planner.post("/api/v1/items/?format=api", {"sku": "x"}, format="json")
    assert refused["Content-Type"] == "application/json"
    assert_error(refused, 403, "permission_denied")
    asks_html = planner.get("/api/v1/items/", HTTP_ACCEPT="text/html")
    assert (asks_html.status_code, asks_html["Content-Type"]) == (200, "application/json")


def test_an_unexpected_crash_under_api_is_a_json_500_with_the_correlation_id_and_no_stack(unique, monkeypatch):
    from shipments import selectors

    def crash(**kwargs):
        raise RuntimeError("secret internals: /srv/app/shipments/selectors.py line 12")

    monkeypatch.setattr(selectors, "late_shipments", crash)
    planner = client_for(f"planner-{unique}", PLANNER)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=planner._credentials["HTTP_AUTHORIZATION"])
    response = client.get("/api/v1/shipments/late/", HTTP_X_REQUEST_ID=f"req-{unique}")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "The server failed to handle this request. It was logged with the correlation id; retry, "
            "and if it fails again report the id.",
            "fields": {"correlation_id": f"req-{unique}"},
        }
    }
    assert b"secret internals" not in response.content and b"Traceback" not in response.content


@pytest.mark.postgres
@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialization_failure_escaping_a_service_is_a_503_with_retry_after(unique, monkeypatch,
                                                                                            sqlstate):  # fmt: skip
    """The database itself raises the error (a real psycopg2 DeadlockDetected / SerializationFailure)."""
    from orders import services

    def conflicting(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute(f"DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '{sqlstate}'; END $$;")

    monkeypatch.setattr(services, "order_cancel", conflicting)
    ops = client_for(f"ops-{unique}", OPS)
    response = ops.post("/api/v1/orders/1/cancel/", {"reason": "x"}, format="json")
    error = assert_error(response, 503, "transient_conflict")
    assert response["Retry-After"] == "1"
    assert error["fields"] == {"retry_after_seconds": 1}
