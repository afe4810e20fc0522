"""Two workers on one shipment, with real threads and real PostgreSQL connections: the row lock
lets exactly one move it, and the other gets a clear answer."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from inventory import services as inventory
from inventory.models import Balance
from scm.errors import DomainError
from scm.events import store
from shipments import services
from shipments.models import Shipment, TrackingUpdate
from shipments.services import ShipmentLineSpec
from tests.factories import stocked

pytestmark = pytest.mark.postgres


def race(workers: int, work: Callable[[], object]) -> list[object]:
    """Run `work` in `workers` threads released together; return each result or raised error."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each worker got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def planned(committed_db, unique, settings):
    settings.TMS_BASE_URL = ""
    carrier = services.carrier_upsert(code=f"CC-{unique}", name="Concurrency carrier")
    sku, loc = stocked(unique, on_hand=10)
    holder = f"order-c{unique[:4]}/line-1"
    inventory.stock_reserve(sku=sku, location=loc, qty=10, holder=holder)
    shipment = services.shipment_plan(
        order_ref=f"order-c{unique}",
        plan_key="c1",
        from_location=loc,
        lines=[ShipmentLineSpec(sku, 6, holder)],
        carrier=carrier.code,
    )
    return shipment, sku, loc


def test_two_workers_departing_one_shipment_consume_once(planned):
    shipment, sku, loc = planned
    results = race(4, lambda: services.shipment_depart(shipment_id=shipment.pk))

    winners = [r for r in results if isinstance(r, Shipment)]
    losers = [r for r in results if isinstance(r, DomainError)]
    assert len(winners) == 1 and len(losers) == 3
    assert {loser.code for loser in losers} == {"invalid_shipment_transition"}
    row = Balance.objects.get(item__sku=sku, location__code=loc)
    assert (row.on_hand, row.reserved) == (4, 4)
    assert [e.type for e in store.read_stream(shipment.stream)] == ["ShipmentPlanned", "ShipmentDeparted"]


def test_the_same_update_delivered_concurrently_is_applied_once(planned):
    shipment, sku, loc = planned
    raw = {
        "tracking_number": shipment.tracking_number,
        "status": "DELIVERED",
        "occurred_at": timezone.now().isoformat(),
    }
    results = race(4, lambda: services.tracking_update_ingest(raw=dict(raw), source="webhook"))

    assert sorted(r.outcome for r in results) == ["applied", "duplicate", "duplicate", "duplicate"]
    assert TrackingUpdate.objects.filter(shipment=shipment).count() == 4
    row = Balance.objects.get(item__sku=sku, location__code=loc)
    assert (row.on_hand, row.reserved) == (4, 4)
    assert [e.type for e in store.read_stream(shipment.stream)] == [
        "ShipmentPlanned",
        "ShipmentDeparted",
        "ShipmentDelivered",
    ]


def test_concurrent_plans_with_one_plan_key_make_one_shipment(committed_db, unique, settings):
    settings.TMS_BASE_URL = ""
    carrier = services.carrier_upsert(code=f"CP-{unique}", name="Plan carrier")
    sku, loc = stocked(unique, on_hand=5)
    lines = [ShipmentLineSpec(sku, 5, f"order-p{unique[:4]}/line-1")]

    results = race(
        4,
        lambda: services.shipment_plan(
            order_ref=f"order-p{unique}", plan_key="same", from_location=loc, lines=lines, carrier=carrier.code
        ),
    )

    assert all(isinstance(r, Shipment) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Shipment.objects.filter(order_ref=f"order-p{unique}").count() == 1
    assert [e.type for e in store.read_stream(results[0].stream)] == ["ShipmentPlanned"]
