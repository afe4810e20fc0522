"""Orders under real concurrent PostgreSQL connections."""

from __future__ import annotations

from collections import Counter

import pytest

from inventory import services as inventory
from inventory.models import Balance
from orders import services as orders
from orders.models import SalesOrder
from tests.concurrency import run_threads
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.postgres


def test_50_concurrent_creations_with_one_idempotency_key_create_exactly_one_order(committed_db, unique):
    sku = ItemFactory(sku=f"IK-{unique}").sku
    orders.customer_upsert(code=f"IK-{unique}", name="Idempotent customer")

    def create(_: int) -> tuple[int, bool]:
        order, created = orders.order_create(
            customer=f"IK-{unique}",
            external_id=f"EXT-{unique}",
            lines=[{"sku": sku, "qty": 2}],
            idempotency_key=f"key-{unique}",
            start_workflow=False,
        )
        return order.pk, created

    results = run_threads(50, create)

    assert len({order_id for order_id, _ in results}) == 1
    assert Counter(created for _, created in results) == {True: 1, False: 49}
    assert SalesOrder.objects.filter(customer__code=f"IK-{unique}").count() == 1


def test_concurrent_allocations_of_competing_orders_never_oversell(committed_db, unique):
    sku = ItemFactory(sku=f"CO-{unique}").sku
    w1 = LocationFactory(code=f"CO1-{unique}").code
    w2 = LocationFactory(code=f"CO2-{unique}").code
    inventory.stock_receive(sku=sku, location=w1, qty=7)
    inventory.stock_receive(sku=sku, location=w2, qty=6)
    orders.customer_upsert(code=f"CO-{unique}", name="Competing customer")
    order_ids = [
        orders.order_create(
            customer=f"CO-{unique}", external_id=f"E{n}", lines=[{"sku": sku, "qty": 3}], start_workflow=False
        )[0].pk
        for n in range(8)
    ]

    outcomes = run_threads(8, lambda index: orders.order_allocate(order_id=order_ids[index]).status)

    reserved = sum(b.reserved for b in Balance.objects.filter(item__sku=sku))
    assert reserved == 13
    assert Counter(outcomes)["RESERVED"] == 4  # 4 full orders of 3 fit in 13; the fifth gets 1
    assert (
        sum(line.reserved for order_id in order_ids for line in SalesOrder.objects.get(pk=order_id).lines.all()) == 13
    )
