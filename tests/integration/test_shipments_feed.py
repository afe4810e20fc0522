"""A carrier's polled tracking feed, served by a real HTTP server on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services as inventory
from shipments import services, tasks
from shipments.exceptions import CarrierFeedError
from shipments.models import Carrier, TrackingUpdate
from shipments.services import ShipmentLineSpec
from tests.factories import stocked

pytestmark = pytest.mark.django_db


@pytest.fixture
def feed_carrier(unique, httpserver, settings):
    settings.TMS_BASE_URL = ""
    return services.carrier_upsert(
        code=f"FEED-{unique}", name="Feed Carrier", tracking_feed_url=httpserver.url_for(f"/feed/{unique}")
    )


@pytest.fixture
def shipment(unique, feed_carrier):
    sku, loc = stocked(unique, on_hand=8)
    holder = f"order-3{unique[:3]}/line-1"
    inventory.stock_reserve(sku=sku, location=loc, qty=8, holder=holder)
    return services.shipment_plan(
        order_ref=f"order-{unique}",
        plan_key="f1",
        from_location=loc,
        lines=[ShipmentLineSpec(sku, 8, holder)],
        carrier=feed_carrier.code,
    )


def test_feed_items_are_each_stored_and_applied_and_the_cursor_advances(httpserver, unique, feed_carrier, shipment):
    t0 = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    items = [
        {"tracking_number": shipment.tracking_number, "status": "DEPARTED", "occurred_at": t0.isoformat()},
        {"tracking_number": shipment.tracking_number, "status": "DEPARTED", "occurred_at": t0.isoformat()},
        {"tracking_number": f"NOBODY-{unique}", "status": "IN_TRANSIT", "occurred_at": t0.isoformat()},
        {"tracking_number": shipment.tracking_number, "status": "teleported", "occurred_at": t0.isoformat()},
        "not an object",
        {
            "tracking_number": shipment.tracking_number,
            "status": "IN_TRANSIT",
            "occurred_at": (t0 + timedelta(hours=1)).isoformat(),
            "note": "hub",
        },
    ]
    httpserver.expect_ordered_request(f"/feed/{unique}", method="GET").respond_with_json(items)

    result = services.carrier_feed_poll(code=feed_carrier.code)

    assert result.received == 6
    assert result.outcomes == {"applied": 2, "duplicate": 1, "unknown_tracking": 1, "malformed": 2}
    shipment.refresh_from_db()
    assert (shipment.status, shipment.last_note) == ("IN_TRANSIT", "hub")
    stored = TrackingUpdate.objects.filter(source="feed", carrier_code=feed_carrier.code).order_by("pk")
    assert [row.outcome for row in stored] == [
        "applied",
        "duplicate",
        "unknown_tracking",
        "malformed",
        "malformed",
        "applied",
    ]
    assert stored[4].raw == {"body": "not an object"}
    feed_carrier.refresh_from_db()
    assert feed_carrier.feed_cursor == t0 + timedelta(hours=1)
    assert feed_carrier.feed_last_error == "" and feed_carrier.feed_polled_at is not None

    # The next poll asks only for what is newer than the cursor.
    httpserver.expect_ordered_request(
        f"/feed/{unique}", method="GET", query_string={"since": (t0 + timedelta(hours=1)).isoformat()}
    ).respond_with_json([])
    assert services.carrier_feed_poll(code=feed_carrier.code).received == 0
    httpserver.check_assertions()


@pytest.mark.parametrize(
    "status, body, retryable, message",
    [
        (503, "[]", True, "feed answered HTTP 503"),
        (404, "[]", False, "feed answered HTTP 404"),
        (200, '{"updates": []}', False, "feed body is a JSON dict, expected a list"),
        (200, "<html>", False, "feed body is not JSON"),
    ],
)
def test_unreadable_feed_is_an_error_kept_on_the_carrier(
    httpserver, unique, feed_carrier, status, body, retryable, message
):
    httpserver.expect_request(f"/feed/{unique}").respond_with_data(body, status=status)
    with pytest.raises(CarrierFeedError) as caught:
        services.carrier_feed_poll(code=feed_carrier.code)
    assert (caught.value.retryable, caught.value.message) == (retryable, message)
    feed_carrier.refresh_from_db()
    assert feed_carrier.feed_last_error == message and feed_carrier.feed_cursor is None


def test_beat_task_polls_every_carrier_with_a_feed(httpserver, unique, feed_carrier, shipment):
    httpserver.expect_request(f"/feed/{unique}").respond_with_json(
        [
            {
                "tracking_number": shipment.tracking_number,
                "status": "delivered",
                "occurred_at": timezone.now().isoformat(),
            }
        ]
    )
    Carrier.objects.exclude(pk=feed_carrier.pk).exclude(tracking_feed_url="").update(active=False)
    assert tasks.poll_carrier_feeds() == 1
    shipment.refresh_from_db()
    assert shipment.status == "DELIVERED"
