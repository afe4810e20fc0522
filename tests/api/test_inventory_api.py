"""Inventory over the API: balances now and in the past, receipts, adjustments, transfers and ATP,
with real tokens, the one error shape, idempotent retries and flat query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services as inventory
from inventory.models import Balance, LedgerEntry
from scm.roles import INTEGRATION
from tests.api.helpers import assert_error, client_for
from tests.factories import ItemFactory, LocationFactory, stocked

pytestmark = pytest.mark.django_db


def ledger_rows(sku: str) -> int:
    return LedgerEntry.objects.filter(item__sku=sku).count()


# --- Balances ---------------------------------------------------------------------------------


def test_balances_list_current_figures_filtered_by_sku_and_location(planner, unique):
    sku, wh1 = stocked(unique, on_hand=10)
    wh2 = LocationFactory(code=f"WH2-{unique}").code
    inventory.stock_receive(sku=sku, location=wh2, qty=4, reference="r")
    inventory.stock_reserve(sku=sku, location=wh1, qty=3, holder="test/1")
    inventory.inbound_add(sku=sku, location=wh2, qty=7, reference="PO-1/1", expected_date=timezone.localdate())

    body = planner.get(f"/api/v1/inventory/balances/?sku={sku}").json()
    assert body["count"] == 2
    assert body["results"] == [
        {"sku": sku, "location": wh1, "on_hand": 10, "reserved": 3, "available": 7, "inbound": 0},
        {"sku": sku, "location": wh2, "on_hand": 4, "reserved": 0, "available": 4, "inbound": 7},
    ]
    only = planner.get(f"/api/v1/inventory/balances/?sku={sku}&location={wh2}").json()["results"]
    assert [(row["location"], row["on_hand"]) for row in only] == [(wh2, 4)]


def test_balances_as_of_a_past_time_come_from_the_ledger(planner, unique):
    sku, wh = stocked(unique)
    t0 = timezone.now() - timedelta(hours=3)
    inventory.stock_receive(sku=sku, location=wh, qty=10, reference="first", effective_at=t0)
    inventory.stock_adjust(sku=sku, location=wh, delta=-4, reason="damaged", effective_at=t0 + timedelta(hours=2))
    mid = (t0 + timedelta(hours=1)).isoformat()

    past = planner.get("/api/v1/inventory/balances/", {"sku": sku, "as_of": mid}).json()["results"]
    assert past == [{"sku": sku, "location": wh, "on_hand": 10, "reserved": 0, "available": 10, "inbound": 0}]
    now = planner.get("/api/v1/inventory/balances/", {"sku": sku, "as_of": timezone.now().isoformat()}).json()
    assert now["results"][0]["on_hand"] == 6
    before_anything = planner.get(
        "/api/v1/inventory/balances/", {"sku": sku, "as_of": (t0 - timedelta(minutes=1)).isoformat()}
    ).json()
    assert before_anything["results"] == []


def test_known_at_hides_movements_recorded_later(planner, unique):
    sku, wh = stocked(unique, on_hand=5)
    believed_at = timezone.now()
    inventory.stock_receive(
        sku=sku, location=wh, qty=3, reference="late", effective_at=believed_at - timedelta(hours=1)
    )
    params = {"sku": sku, "as_of": believed_at.isoformat()}
    assert planner.get("/api/v1/inventory/balances/", params).json()["results"][0]["on_hand"] == 8
    params["known_at"] = believed_at.isoformat()
    assert planner.get("/api/v1/inventory/balances/", params).json()["results"][0]["on_hand"] == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("as_of=yesterday", "as_of"),
        ("as_of=2026-13-45T00:00:00Z", "as_of"),
        ("known_at=2026-01-01T00:00:00Z", "known_at"),
        ("as_of=2026-01-01T00:00:00Z&known_at=soon", "known_at"),
        ("sku=" + "S" * 65, "sku"),
        ("sku=%00", "sku"),
    ],
)
def test_bad_balance_queries_answer_400_naming_the_parameter(planner, query, field):
    error = assert_error(planner.get(f"/api/v1/inventory/balances/?{query}"), 400, "invalid")
    assert set(error["fields"]) == {field}
    assert error["message"].startswith(f"{field}: ")


def test_balances_and_atp_are_closed_to_supplier_bound_tokens(unique):
    bound = client_for(f"sup-{unique}", INTEGRATION, supplier=f"S-{unique}")
    assert_error(bound.get("/api/v1/inventory/balances/"), 403, "permission_denied")
    assert_error(bound.get("/api/v1/inventory/atp/?sku=X&qty=1"), 403, "permission_denied")


# --- Receipts ---------------------------------------------------------------------------------


def test_a_receipt_puts_stock_on_hand_and_closes_inbound_supply(integration, unique):
    sku, wh = stocked(unique)
    inventory.inbound_add(sku=sku, location=wh, qty=6, reference="PO-9/1", expected_date=timezone.localdate())
    response = integration.post(
        "/api/v1/inventory/receipts/",
        {"sku": sku, "location": wh, "qty": 8, "reference": "GRN-1", "inbound_reference": "PO-9/1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["event"]["type"] == "StockReceived"
    assert body["event"]["stream"] == f"stock-{sku}@{wh}"
    assert (body["sku"], body["location"], body["qty"], body["reference"]) == (sku, wh, 8, "GRN-1")
    assert (body["inbound_reference"], body["inbound_received"]) == ("PO-9/1", 6)
    assert body["balance"] == {"on_hand": 8, "reserved": 0, "available": 8, "inbound": 0}


def test_a_receipt_retried_with_the_same_idempotency_key_is_applied_once(integration, unique):
    sku, wh = stocked(unique)
    payload = {"sku": sku, "location": wh, "qty": 5, "reference": "GRN-2"}
    first = integration.post("/api/v1/inventory/receipts/", payload, format="json", HTTP_IDEMPOTENCY_KEY=unique)
    again = integration.post("/api/v1/inventory/receipts/", payload, format="json", HTTP_IDEMPOTENCY_KEY=unique)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Balance.objects.get(item__sku=sku).on_hand == 5
    assert ledger_rows(sku) == 1

    changed = integration.post(
        "/api/v1/inventory/receipts/", {**payload, "qty": 6}, format="json", HTTP_IDEMPOTENCY_KEY=unique
    )
    assert_error(changed, 422, "idempotency_key_reused")
    assert Balance.objects.get(item__sku=sku).on_hand == 5


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"qty": 0}, 400, "invalid", "qty"),
        ({"qty": -3}, 400, "invalid", "qty"),
        ({"qty": 1.5}, 400, "invalid", "qty"),
        ({"qty": "ten"}, 400, "invalid", "qty"),
        ({"qty": 2**40}, 400, "invalid", "qty"),
        ({"qty": None}, 400, "invalid", "qty"),
        ({"sku": None}, 400, "invalid", "sku"),
        ({"sku": "NO-SUCH-SKU"}, 422, "unknown_sku", "sku"),
        ({"location": "NO-SUCH-PLACE"}, 422, "unknown_location", "location"),
        ({"inbound_reference": "PO-NONE"}, 404, "inbound_supply_not_found", "reference"),
        ({"effective_at": "not a time"}, 400, "invalid", "effective_at"),
        ({"effective_at": "2999-01-01T00:00:00Z"}, 400, "invalid", "effective_at"),
        ({"reference": "R" * 201}, 400, "invalid", "reference"),
    ],
)
def test_bad_receipts_answer_4xx_and_write_nothing(ops, unique, payload, status, code, field):
    sku, wh = stocked(unique)
    body = {"sku": sku, "location": wh, "qty": 1, "reference": "r", **payload}
    error = assert_error(ops.post("/api/v1/inventory/receipts/", body, format="json"), status, code)
    assert field in error["fields"]
    assert ledger_rows(sku) == 0


def test_missing_fields_are_all_named(ops):
    error = assert_error(ops.post("/api/v1/inventory/receipts/", {}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"sku", "location", "qty"}
    assert error["fields"]["qty"] == ["This field is required."]


def test_a_planner_may_receive_but_not_an_account_without_role(planner, unique):
    sku, wh = stocked(unique)
    assert (
        planner.post("/api/v1/inventory/receipts/", {"sku": sku, "location": wh, "qty": 1}, format="json").status_code
        == 201
    )
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    nobody = get_user_model().objects.create_user(username=f"norole-{unique}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=nobody).key}")
    assert_error(
        client.post("/api/v1/inventory/receipts/", {"sku": sku, "location": wh, "qty": 1}, format="json"),
        403,
        "permission_denied",
    )
    assert ledger_rows(sku) == 1


def test_receipts_refuse_get(ops):
    assert_error(ops.get("/api/v1/inventory/receipts/"), 405, "method_not_allowed")


# --- Adjustments ------------------------------------------------------------------------------


def test_an_adjustment_changes_on_hand_with_a_reason_code(planner, unique):
    sku, wh = stocked(unique, on_hand=10)
    response = planner.post(
        "/api/v1/inventory/adjustments/",
        {"sku": sku, "location": wh, "qty": -2, "reason": "damaged", "note": "forklift"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["qty"], body["reason"], body["note"], body["event"]["type"]) == (
        -2,
        "damaged",
        "forklift",
        "StockAdjusted",
    )
    assert body["balance"] == {"on_hand": 8, "reserved": 0, "available": 8, "inbound": 0}


def test_adjustments_refuse_zero_unknown_reasons_and_going_below_reserved(planner, unique):
    sku, wh = stocked(unique, on_hand=5)
    inventory.stock_reserve(sku=sku, location=wh, qty=4, holder="h/1")
    base = {"sku": sku, "location": wh, "reason": "lost"}
    url = "/api/v1/inventory/adjustments/"
    assert "qty" in assert_error(planner.post(url, {**base, "qty": 0}, format="json"), 400, "invalid")["fields"]
    error = assert_error(planner.post(url, {**base, "qty": 1, "reason": "theft"}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"reason"}
    error = assert_error(planner.post(url, {**base, "qty": -2}, format="json"), 409, "below_reserved")
    assert error["fields"] == {"sku": sku, "location": wh, "on_hand_after": 3, "reserved": 4}
    assert Balance.objects.get(item__sku=sku).on_hand == 5


def test_integration_accounts_may_not_adjust(integration, unique):
    sku, wh = stocked(unique, on_hand=5)
    response = integration.post(
        "/api/v1/inventory/adjustments/", {"sku": sku, "location": wh, "qty": 1, "reason": "found"}, format="json"
    )
    assert_error(response, 403, "permission_denied")


# --- Transfers --------------------------------------------------------------------------------


def test_a_transfer_moves_stock_between_locations(planner, unique):
    sku, wh1 = stocked(unique, on_hand=10)
    wh2 = LocationFactory(code=f"WH2-{unique}").code
    response = planner.post(
        "/api/v1/inventory/transfers/",
        {"sku": sku, "from_location": wh1, "to_location": wh2, "qty": 4, "reference": f"TR-{unique}"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"tr-{unique}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [e["type"] for e in body["events"]] == ["TransferDispatched", "TransferReceived"]
    assert body["from_balance"] == {"on_hand": 6, "reserved": 0, "available": 6, "inbound": 0}
    assert body["to_balance"] == {"on_hand": 4, "reserved": 0, "available": 4, "inbound": 0}


def test_transfers_refuse_more_than_available_and_one_location_twice(planner, unique):
    sku, wh1 = stocked(unique, on_hand=3)
    wh2 = LocationFactory(code=f"WH2-{unique}").code
    base = {"sku": sku, "from_location": wh1, "to_location": wh2, "reference": "TR"}
    url = "/api/v1/inventory/transfers/"
    error = assert_error(planner.post(url, {**base, "qty": 4}, format="json"), 409, "insufficient_stock")
    assert error["fields"]["shortfalls"] == [{"sku": sku, "location": wh1, "requested": 4, "available": 3}]
    error = assert_error(planner.post(url, {**base, "qty": 1, "to_location": wh1}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"to_location"}
    error = assert_error(planner.post(url, {**base, "qty": 1, "reference": ""}, format="json"), 400, "invalid")
    assert set(error["fields"]) == {"reference"}
    assert Balance.objects.get(item__sku=sku, location__code=wh1).on_hand == 3


# --- ATP --------------------------------------------------------------------------------------


def test_atp_answers_stock_now_and_inbound_by_date(planner, unique):
    sku, wh = stocked(unique, on_hand=4)
    today = timezone.localdate()
    inventory.inbound_add(sku=sku, location=wh, qty=5, reference="PO-1/1", expected_date=today + timedelta(days=3))
    response = planner.get(f"/api/v1/inventory/atp/?sku={sku}&qty=7")
    assert response.status_code == 200
    assert response.json() == {
        "sku": sku,
        "requested": 7,
        "available_now": 4,
        "can_promise_now": False,
        "complete_by": (today + timedelta(days=3)).isoformat(),
        "shortfall": 0,
        "locations": [{"location": wh, "on_hand": 4, "reserved": 0, "available": 4}],
        "inbound": [
            {
                "location": wh,
                "qty": 5,
                "expected_date": (today + timedelta(days=3)).isoformat(),
                "reference": "PO-1/1",
                "source": "po",
            }
        ],
        "promise": [
            {"date": today.isoformat(), "qty": 4, "cumulative": 4},
            {"date": (today + timedelta(days=3)).isoformat(), "qty": 7, "cumulative": 9},
        ],
    }
    short = planner.get(f"/api/v1/inventory/atp/?sku={sku}&qty=20").json()
    assert (short["complete_by"], short["shortfall"]) == (None, 11)


def test_atp_query_errors(planner):
    error = assert_error(planner.get("/api/v1/inventory/atp/"), 400, "invalid")
    assert set(error["fields"]) == {"sku", "qty"}
    assert "qty" in assert_error(planner.get("/api/v1/inventory/atp/?sku=X&qty=-1"), 400, "invalid")["fields"]
    assert_error(planner.get("/api/v1/inventory/atp/?sku=NO-SUCH&qty=1"), 422, "unknown_sku")


# --- Query counts -----------------------------------------------------------------------------


def _grow(unique: str, n: int) -> None:
    wh = LocationFactory(code=f"Q-{unique}-{n}").code
    for index in range(n):
        sku = ItemFactory(sku=f"Q{index}-{unique}-{n}").sku
        inventory.stock_receive(sku=sku, location=wh, qty=1, reference="q")


def test_balance_listing_takes_the_same_queries_for_ten_times_the_rows(planner, unique, django_assert_max_num_queries):
    _grow(unique, 3)
    planner.get("/api/v1/inventory/balances/")  # warm the user's role cache path like any first request
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        response = planner.get("/api/v1/inventory/balances/?limit=1000")
    assert response.status_code == 200
    _grow(unique, 30)
    with django_assert_max_num_queries(len(small)):
        grown = planner.get("/api/v1/inventory/balances/?limit=1000")
    assert grown.json()["count"] >= response.json()["count"] + 30
    with django_assert_max_num_queries(len(small)):
        past = planner.get("/api/v1/inventory/balances/", {"as_of": timezone.now().isoformat(), "limit": 1000})
    assert past.json()["count"] >= 33
