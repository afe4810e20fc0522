"""Shipments API: carriers CRUD by code, shipment list/detail/events, tracking updates (per shipment
and the carrier webhook), transitions, the late list, roles and the one error shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services as inventory
from inventory.models import Balance
from shipments import services
from shipments.models import Carrier, TrackingUpdate
from shipments.services import ShipmentLineSpec
from tests.api.helpers import assert_error
from tests.factories import stocked

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipment(unique, settings):
    settings.TMS_BASE_URL = ""
    carrier = services.carrier_upsert(
        code=f"API-{unique}", name="Api Carrier", tracking_url_template="https://t.example/{tracking_number}"
    )
    sku, loc = stocked(unique, on_hand=10)
    holder = f"order-42{unique[:3]}/line-1"
    inventory.stock_reserve(sku=sku, location=loc, qty=10, holder=holder)
    return services.shipment_plan(
        order_ref=f"order-{unique}",
        plan_key="a1",
        from_location=loc,
        lines=[ShipmentLineSpec(sku, 6, holder)],
        carrier=carrier.code,
        promised_date=timezone.localdate() + timedelta(days=30),
    )


# --- Carriers -----------------------------------------------------------------------------------


def test_carrier_crud_by_code(ops, unique):
    code = f"UPS-{unique}"
    created = ops.post(
        "/api/v1/carriers/",
        {"code": code, "name": "UPS", "service_levels": ["ground", "air"], "transit_days": 4},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json() == {
        "code": code,
        "name": "UPS",
        "tracking_url_template": "",
        "service_levels": ["ground", "air"],
        "transit_days": 4,
        "is_default": False,
        "active": True,
        "tracking_feed_url": "",
        "feed_polled_at": None,
        "feed_last_error": "",
    }
    assert_error(ops.post("/api/v1/carriers/", {"code": code, "name": "Again"}, format="json"), 409, "carrier_exists")

    changed = ops.patch(f"/api/v1/carriers/{code}/", {"name": "United Parcel", "is_default": True}, format="json")
    assert changed.status_code == 200 and (changed.json()["name"], changed.json()["is_default"]) == (
        "United Parcel",
        True,
    )
    assert ops.get(f"/api/v1/carriers/{code}/").json()["name"] == "United Parcel"
    assert code in [row["code"] for row in ops.get("/api/v1/carriers/?limit=1000").json()["results"]]

    bad = ops.patch(f"/api/v1/carriers/{code}/", {"tracking_url_template": "https://x.example/"}, format="json")
    assert "{tracking_number}" in assert_error(bad, 400, "invalid")["message"]

    assert ops.delete(f"/api/v1/carriers/{code}/").status_code == 204
    assert_error(ops.get(f"/api/v1/carriers/{code}/"), 404, "carrier_not_found")


def test_keys_that_cannot_exist_answer_404_and_bad_codes_400(ops, unique):
    assert_error(ops.get("/api/v1/carriers/A%00B/"), 404, "carrier_not_found")
    assert_error(ops.patch("/api/v1/carriers/A%00B/", {"name": "x"}, format="json"), 404, "carrier_not_found")
    assert_error(ops.delete("/api/v1/carriers/A%00B/"), 404, "carrier_not_found")
    huge = 2**70
    for url in (
        f"/api/v1/shipments/{huge}/",
        f"/api/v1/shipments/{huge}/events/",
        f"/api/v1/shipments/{huge}/tracking/",
    ):
        assert_error(ops.get(url), 404, "shipment_not_found")
    body = {"status": "DELIVERED", "occurred_at": timezone.now().isoformat()}
    assert_error(ops.post(f"/api/v1/shipments/{huge}/tracking/", body, format="json"), 404, "shipment_not_found")
    assert_error(ops.post(f"/api/v1/shipments/{huge}/depart/", {}, format="json"), 404, "shipment_not_found")
    assert (
        "code"
        in assert_error(ops.post("/api/v1/carriers/", {"code": "a/b", "name": "x"}, format="json"), 400, "invalid")[
            "fields"
        ]
    )


def test_carrier_with_shipments_cannot_be_deleted_over_the_api(ops, shipment):
    assert_error(ops.delete(f"/api/v1/carriers/{shipment.carrier.code}/"), 409, "carrier_in_use")
    assert Carrier.objects.filter(code=shipment.carrier.code).exists()


def test_only_ops_write_carriers(planner, integration, unique):
    for client in (planner, integration):
        assert_error(
            client.post("/api/v1/carriers/", {"code": f"Z-{unique}", "name": "Z"}, format="json"),
            403,
            "permission_denied",
        )
    assert planner.get("/api/v1/carriers/").status_code == 200


# --- Shipments ----------------------------------------------------------------------------------


def test_list_by_order_id_or_reference_and_detail(planner, shipment, unique):
    by_ref = planner.get(f"/api/v1/shipments/?order=order-{unique}").json()["results"]
    assert [row["id"] for row in by_ref] == [shipment.pk]
    row = by_ref[0]
    assert {k: row[k] for k in ("status", "order_ref", "carrier", "tracking_number", "from_location")} == {
        "status": "PLANNED",
        "order_ref": f"order-{unique}",
        "carrier": shipment.carrier.code,
        "tracking_number": shipment.tracking_number,
        "from_location": shipment.from_location,
    }
    assert row["tracking_url"] == f"https://t.example/{shipment.tracking_number}"
    assert row["lines"] == [{"sku": shipment.lines.get().sku, "qty": 6, "holder": shipment.lines.get().holder}]
    assert row["promised_date"] == (timezone.localdate() + timedelta(days=30)).isoformat()

    assert planner.get(f"/api/v1/shipments/?order={shipment.pk}9999").json()["results"] == []
    detail = planner.get(f"/api/v1/shipments/{shipment.pk}/")
    assert detail.status_code == 200 and detail.json() == row
    assert_error(planner.get("/api/v1/shipments/999999999/"), 404, "shipment_not_found")
    assert_error(planner.get("/api/v1/shipments/?status=FLYING"), 400, "invalid")


def test_order_filter_accepts_a_numeric_order_id(planner, settings, unique):
    settings.TMS_BASE_URL = ""
    carrier = services.carrier_upsert(code=f"N-{unique}", name="N")
    sku, loc = stocked(unique, on_hand=1)
    order_id = int(unique[:6], 16) + 10_000_000
    shipment = services.shipment_plan(
        order_ref=f"order-{order_id}",
        plan_key="n",
        from_location=loc,
        lines=[ShipmentLineSpec(sku, 1, f"order-{order_id}/line-1")],
        carrier=carrier.code,
    )
    assert [r["id"] for r in planner.get(f"/api/v1/shipments/?order={order_id}").json()["results"]] == [shipment.pk]


def test_tracking_post_moves_the_shipment_and_the_history_is_complete(integration, planner, shipment):
    url = f"/api/v1/shipments/{shipment.pk}/tracking/"
    t0 = timezone.now() - timedelta(hours=4)
    posts = [
        {"status": "DEPARTED", "occurred_at": t0.isoformat(), "note": "picked up"},
        {"status": "DELIVERED", "occurred_at": (t0 + timedelta(hours=3)).isoformat(), "note": "front door"},
        {"status": "IN_TRANSIT", "occurred_at": (t0 + timedelta(hours=1)).isoformat(), "note": "hub (late)"},
        {"status": "DELIVERED", "occurred_at": (t0 + timedelta(hours=3)).isoformat(), "note": "front door"},
    ]
    answers = [integration.post(url, body, format="json") for body in posts]
    assert [a.status_code for a in answers] == [201, 201, 201, 201]
    assert [a.json()["update"]["outcome"] for a in answers] == ["applied", "applied", "stale", "duplicate"]
    assert answers[-1].json()["shipment"]["status"] == "DELIVERED"

    history = planner.get(url).json()
    assert [(h["status"], h["outcome"], h["source"]) for h in history] == [
        ("DEPARTED", "applied", "api"),
        ("DELIVERED", "applied", "api"),
        ("IN_TRANSIT", "stale", "api"),
        ("DELIVERED", "duplicate", "api"),
    ]
    events = planner.get(f"/api/v1/shipments/{shipment.pk}/events/").json()
    assert [e["type"] for e in events] == ["ShipmentPlanned", "ShipmentDeparted", "ShipmentDelivered"]
    assert events[1]["payload"]["lines"][0]["qty"] == 6 and events[1]["payload"]["order_ref"] == shipment.order_ref
    row = Balance.objects.get(item__sku=shipment.lines.get().sku, location__code=shipment.from_location)
    assert (row.on_hand, row.reserved) == (4, 4)


def test_tracking_post_refuses_malformed_input_with_the_reason(integration, shipment):
    url = f"/api/v1/shipments/{shipment.pk}/tracking/"
    cases = [
        ({"status": "LOST", "occurred_at": timezone.now().isoformat()}, "status"),
        ({"status": "IN_TRANSIT", "occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),
        ({"status": "IN_TRANSIT"}, "occurred_at"),
    ]
    for body, field in cases:
        error = assert_error(integration.post(url, body, format="json"), 400, "malformed_tracking_update")
        assert field in error["fields"] and field in error["message"]
    assert_error(integration.post(url, "not json", content_type="application/json"), 400, "malformed_request")
    shipment.refresh_from_db()
    assert shipment.status == "PLANNED"
    assert TrackingUpdate.objects.filter(shipment=shipment, outcome="malformed").count() == 3


def test_planners_may_not_post_tracking_updates(planner, shipment):
    body = {"status": "DEPARTED", "occurred_at": timezone.now().isoformat()}
    assert_error(
        planner.post(f"/api/v1/shipments/{shipment.pk}/tracking/", body, format="json"), 403, "permission_denied"
    )
    assert_error(APIClient().post("/api/v1/carrier-updates/", body, format="json"), 401, "not_authenticated")


def test_depart_and_cancel_actions(integration, planner, shipment, unique):
    assert_error(planner.post(f"/api/v1/shipments/{shipment.pk}/depart/", {}, format="json"), 403, "permission_denied")
    departed = integration.post(f"/api/v1/shipments/{shipment.pk}/depart/", {"note": "dock 3"}, format="json")
    assert departed.status_code == 200 and departed.json()["status"] == "DEPARTED"
    cancel = planner.post(f"/api/v1/shipments/{shipment.pk}/cancel/", {"reason": "oops"}, format="json")
    assert "DEPARTED" in assert_error(cancel, 409, "invalid_shipment_transition")["message"]


def test_departure_beyond_the_reservation_answers_409_with_the_facts(integration, settings, unique):
    settings.TMS_BASE_URL = ""
    carrier = services.carrier_upsert(code=f"D-{unique}", name="D")
    sku, loc = stocked(unique, on_hand=10)
    inventory.stock_reserve(sku=sku, location=loc, qty=3, holder="order-8/line-1")
    shipment = services.shipment_plan(
        order_ref=f"order-{unique}",
        plan_key="x",
        from_location=loc,
        lines=[ShipmentLineSpec(sku, 4, "order-8/line-1")],
        carrier=carrier.code,
    )
    error = assert_error(
        integration.post(f"/api/v1/shipments/{shipment.pk}/depart/", {}, format="json"),
        409,
        "departure_exceeds_reservation",
    )
    assert (error["fields"]["requested"], error["fields"]["held"]) == (4, 3)


# --- Carrier webhook ----------------------------------------------------------------------------


def test_webhook_applies_known_and_keeps_unknown_tracking_numbers(integration, ops, shipment, unique):
    now = timezone.now().isoformat()
    known = integration.post(
        "/api/v1/carrier-updates/",
        {
            "tracking_number": shipment.tracking_number,
            "status": "in_transit",
            "occurred_at": now,
            "carrier": shipment.carrier.code,
        },
        format="json",
    )
    assert known.status_code == 202
    assert {k: known.json()[k] for k in ("outcome", "shipment_id", "status")} == {
        "outcome": "applied",
        "shipment_id": shipment.pk,
        "status": "IN_TRANSIT",
    }

    unknown = integration.post(
        "/api/v1/carrier-updates/",
        {"tracking_number": f"GHOST-{unique}", "status": "DELIVERED", "occurred_at": now, "note": "left at door"},
        format="json",
    )
    assert unknown.status_code == 202
    assert (unknown.json()["outcome"], unknown.json()["shipment_id"]) == ("unknown_tracking", None)
    assert f"GHOST-{unique}" in unknown.json()["outcome_detail"]
    unmatched = ops.get("/api/v1/carrier-updates/unmatched/?limit=1000").json()["results"]
    assert unknown.json()["id"] in [row["id"] for row in unmatched]
    assert TrackingUpdate.objects.get(pk=unknown.json()["id"]).raw["note"] == "left at door"


def test_webhook_malformed_payload_is_400_with_the_reason(integration):
    response = integration.post(
        "/api/v1/carrier-updates/", {"status": "DELIVERED", "occurred_at": timezone.now().isoformat()}, format="json"
    )
    error = assert_error(response, 400, "malformed_tracking_update")
    assert error["fields"]["tracking_number"] == "is required"
    assert error["message"] == "Malformed tracking update: tracking_number: is required"
    assert TrackingUpdate.objects.filter(pk=error["fields"]["update_id"], outcome="malformed").exists()

    listed = integration.post("/api/v1/carrier-updates/", [{"tracking_number": "X"}], format="json")
    assert "expected a JSON object" in assert_error(listed, 400, "malformed_tracking_update")["message"]


# --- Late list ----------------------------------------------------------------------------------


def test_late_list_shows_a_quiet_shipment_with_its_order(planner, shipment, settings):
    settings.SHIPMENT_STALE_AFTER_HOURS = 24
    services.shipment_depart(shipment_id=shipment.pk, occurred_at=timezone.now() - timedelta(hours=30))
    rows = planner.get("/api/v1/shipments/late/?include_at_risk=false").json()
    [row] = [r for r in rows if r["shipment_id"] == shipment.pk]
    assert (row["order_ref"], row["risk"], row["reasons"], row["status"]) == (
        shipment.order_ref,
        "late",
        ["no_update"],
        "DEPARTED",
    )
