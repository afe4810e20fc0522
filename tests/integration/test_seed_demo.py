"""seed_demo builds a believable network through the real services, consistently, and only once.

The command runs for real (committed transactions, the workflow, subscriptions, the inbound
message pipeline), on a small scale and with a unique prefix so it shares the test database.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from dashboard.demo import marker_stream
from inventory import selectors as stock_selectors
from inventory.models import Location
from orders import selectors as order_selectors
from orders.models import OrderStatus
from scm.events import store
from scm.events.models import Subscription
from shipments import selectors as shipment_selectors
from suppliers import selectors as supplier_selectors

pytestmark = [pytest.mark.usefixtures("committed_db"), pytest.mark.slow]


def seed(prefix: str, *extra: str) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo", "--prefix", prefix, "--skus", "40", "--days", "12", "--orders-per-day", "5", *extra, stdout=out
    )
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """One seeded network for the module (the subscribers start at the log head, so other tests'
    events are not replayed into it)."""
    import uuid

    prefix = f"t{uuid.uuid4().hex[:6]}-"
    with django_db_blocker.unblock():
        head = store.head_position()
        for name in ("orders.backorders", "orders.shipments", "webhooks"):
            Subscription.objects.update_or_create(name=name, defaults={"checkpoint": head})
        output = seed(prefix)
    return prefix, output


def test_the_network_has_warehouses_items_customers_suppliers_carriers_and_users(seeded):
    prefix, output = seeded
    assert "master data: warehouses, items, customers" in output
    assert "day 12/12" in output and "demo network seeded in" in output
    codes = set(Location.objects.filter(code__startswith=prefix).values_list("code", flat=True))
    assert codes == {f"{prefix}WH-EAST", f"{prefix}WH-CENTRAL", f"{prefix}WH-WEST"}
    assert stock_selectors.items(search=prefix).count() == 40
    assert supplier_selectors.suppliers().filter(code__startswith=prefix).count() == 12
    assert supplier_selectors.supplier_items().filter(supplier__code__startswith=prefix).count() == 40 + 6
    assert shipment_selectors.carriers().filter(code__startswith=prefix).count() == 3
    assert sorted(User.objects.filter(username__startswith=prefix).values_list("username", flat=True)) == [
        f"{prefix}admin",
        f"{prefix}ops",
        f"{prefix}planner",
    ]
    assert set(User.objects.get(username=f"{prefix}ops").groups.values_list("name", flat=True)) == {"ops"}


def test_the_month_tells_a_story_spread_over_the_days(seeded):
    prefix, _ = seeded
    [marker] = store.read_stream(marker_stream(prefix))
    counts = marker.payload["counts"]
    mine = order_selectors.orders().filter(customer__code__startswith=prefix)
    assert mine.count() == counts["orders"] >= 40
    statuses = set(mine.values_list("status", flat=True))
    assert {OrderStatus.FULFILLED, OrderStatus.PARTIALLY_FULFILLED, OrderStatus.CANCELLED} <= statuses
    created = sorted(mine.values_list("created_at", flat=True))
    assert created[-1] - created[0] >= timedelta(days=10)
    shipped = shipment_selectors.shipments().filter(carrier__code__startswith=prefix)
    assert shipped.filter(status="DELIVERED").count() == counts["deliveries"] > 0
    assert counts["purchase_orders"] > 0 and counts["receipts"] > 0
    quarantined = supplier_selectors.quarantined_messages().filter(supplier__code__startswith=prefix)
    assert quarantined.count() == counts["quarantined"] >= 1
    assert all(message.errors for message in quarantined)


def test_projections_match_the_ledger_after_seeding(seeded):
    prefix, _ = seeded
    found = [d for d in stock_selectors.check_balances() if d.sku.startswith(prefix)]
    assert found == []


def test_running_again_adds_nothing_and_if_empty_does_nothing(seeded):
    prefix, _ = seeded
    orders_before = order_selectors.orders().filter(customer__code__startswith=prefix).count()
    events_before = store.head_position()
    again = seed(prefix)
    assert "demo network already seeded; nothing more to do" in again
    assert order_selectors.orders().filter(customer__code__startswith=prefix).count() == orders_before
    assert store.head_position() == events_before
    assert seed(prefix, "--if-empty").strip() == "demo data already loaded"


def test_bad_arguments_are_refused():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--days must be at least 1"):
        call_command("seed_demo", "--days", "0", stdout=io.StringIO())


def test_no_workflow_step_is_left_due(seeded):
    from orders import workflow

    prefix, _ = seeded
    mine = set(order_selectors.orders().filter(customer__code__startswith=prefix).values_list("id", flat=True))
    assert mine and not mine.intersection(workflow.due_workflows(limit=100000))
