"""Available-to-promise and replenishment suggestions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from inventory import selectors
from inventory import services as inventory
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db


def test_atp_with_stock_in_two_warehouses_and_an_inbound_delivery_next_week(unique):
    sku = ItemFactory(sku=f"ATP-{unique}").sku
    east = LocationFactory(code=f"E-{unique}", allocation_rank=1).code
    west = LocationFactory(code=f"W-{unique}", allocation_rank=2).code
    inventory.stock_receive(sku=sku, location=east, qty=30)
    inventory.stock_receive(sku=sku, location=west, qty=20)
    inventory.stock_reserve(sku=sku, location=west, qty=5, holder="someone")
    today = date(2030, 6, 3)
    next_week = today + timedelta(days=7)
    inventory.inbound_add(sku=sku, location=east, qty=40, reference="PO-1/1", expected_date=next_week)

    answer = selectors.available_to_promise(sku=sku, qty=80, today=today)

    assert answer.available_now == 45
    assert [(entry["location"], entry["available"]) for entry in answer.locations] == [(east, 30), (west, 15)]
    assert answer.can_promise_now is False
    assert answer.promise == [
        {"date": today, "qty": 45, "cumulative": 45},
        {"date": next_week, "qty": 80, "cumulative": 85},
    ]
    assert (answer.complete_by, answer.shortfall) == (next_week, 0)

    small = selectors.available_to_promise(sku=sku, qty=45, today=today)
    assert (small.can_promise_now, small.complete_by) == (True, today)
    large = selectors.available_to_promise(sku=sku, qty=100, today=today)
    assert (large.complete_by, large.shortfall) == (None, 15)


def test_replenishment_suggests_order_up_to_in_whole_packs_from_recent_demand(unique):
    sku = ItemFactory(sku=f"RP-{unique}", pack_size=12, lead_time_days=10, safety_stock=5).sku
    loc = LocationFactory(code=f"RP-{unique}").code
    now = timezone.now()
    inventory.stock_receive(sku=sku, location=loc, qty=100, effective_at=now - timedelta(days=20))
    inventory.stock_reserve(sku=sku, location=loc, qty=84, holder="demand")
    # 84 units shipped over the 28-day window: 3 a day.
    inventory.reservation_consume(sku=sku, location=loc, holder="demand", qty=84, reference="ship")

    [suggestion] = selectors.replenishment_suggestions(sku=sku, now=timezone.now())

    assert suggestion.daily_demand == 3.0
    assert suggestion.reorder_point == 35  # 3/day * 10 days + 5 safety
    assert suggestion.position == 16
    assert suggestion.order_up_to == 65  # reorder point + a lead time of demand
    assert suggestion.suggested_qty == 60  # 49 rounded up to whole packs of 12
    assert suggestion.days_of_cover == pytest.approx(5.3)

    inventory.inbound_add(sku=sku, location=loc, qty=60, reference="PO-2/1", expected_date=date(2030, 1, 1))
    assert selectors.replenishment_suggestions(sku=sku, now=timezone.now()) == []
