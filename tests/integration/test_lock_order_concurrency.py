"""One lock order, taken before any append: two-line orders whose lines come in opposite orders
(A,B and B,A) cancelled, failed, shipped and received by 8 clients at once, on real PostgreSQL
connections, without a single deadlock.

A deadlock would show three ways, and each is asserted away: an exception in a client, a retry by
`scm.conflicts` (its counter), and PostgreSQL's own count for the database. Run the module many times
in a row with LOCK_ORDER_ROUNDS=20.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from django.db import connection

from inventory import selectors as stock_selectors
from inventory import services as inventory
from inventory.models import Balance
from orders import services as orders
from orders.models import FulfillmentWorkflow, OrderStatus, SalesOrder
from scm.observability import metrics
from shipments import services as shipping
from suppliers import services as suppliers
from tests.concurrency import run_threads
from tests.factories import ItemFactory, LocationFactory
from tests.integration.test_suppliers_setup import make_order, make_supplier

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 8
ORDERS = 40
ROUNDS = range(int(os.environ.get("LOCK_ORDER_ROUNDS", "1")))


# --- Measuring deadlocks ----------------------------------------------------------------------


def deadlocks_counted_by_postgres() -> int:
    time.sleep(1)  # the clients' backends flush their statistics as they exit
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def conflicts_retried() -> float:
    return sum(
        metrics.db_conflict_retries.labels(kind=kind, outcome=outcome)._value.get()
        for kind in ("deadlock", "serialization_failure")
        for outcome in ("retried", "gave_up")
    )


def clients(work: list[Callable[[], object]]) -> list[str]:
    """Share `work` among 8 clients released together; the errors they met, as text."""

    def client(index: int) -> list[str]:
        errors = []
        for job in work[index::CLIENTS]:
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - every error is the test's business
                errors.append(f"{type(exc).__name__}: {exc}")
        return errors

    return [error for errors in run_threads(CLIENTS, client) for error in errors]


def without_deadlocks(work: list[Callable[[], object]]) -> None:
    postgres_before, retried_before = deadlocks_counted_by_postgres(), conflicts_retried()
    errors = clients(work)
    assert errors == []
    assert conflicts_retried() == retried_before, "a deadlock was retried"
    assert deadlocks_counted_by_postgres() == postgres_before, "PostgreSQL counted a deadlock"


# --- A network of two SKUs at one warehouse ---------------------------------------------------


class Network:
    def __init__(self, unique: str) -> None:
        self.unique = unique
        self.skus = [ItemFactory(sku=f"LA-{unique}").sku, ItemFactory(sku=f"LB-{unique}").sku]
        self.warehouse = LocationFactory(code=f"LW-{unique}", kind="warehouse").code
        for sku in self.skus:
            inventory.stock_receive(sku=sku, location=self.warehouse, qty=10_000)
        orders.customer_upsert(code=f"LC-{unique}", name="Lock order customer")
        self.carrier = shipping.carrier_upsert(code=f"LK-{unique}", name="Lock order carrier").code

    def lines(self, n: int) -> list[str]:
        """A,B for even orders, B,A for odd ones."""
        return self.skus if n % 2 == 0 else self.skus[::-1]

    def reserved_orders(self, count: int = ORDERS) -> list[int]:
        ids = []
        for n in range(count):
            order, _ = orders.order_create(
                customer=f"LC-{self.unique}",
                external_id=f"E{n}-{time.monotonic_ns()}",
                lines=[{"sku": sku, "qty": 1 + n % 3} for sku in self.lines(n)],
                start_workflow=False,
            )
            assert orders.order_allocate(order_id=order.pk).status == OrderStatus.RESERVED
            ids.append(order.pk)
        return ids

    def planned_shipments(self, order_ids: list[int]) -> list[int]:
        shipments = []
        for order_id in order_ids:
            lines = SalesOrder.objects.get(pk=order_id).lines.order_by("line_no")
            shipment = shipping.shipment_plan(
                order_ref=f"order-{order_id}",
                plan_key="all",
                from_location=self.warehouse,
                lines=[
                    shipping.ShipmentLineSpec(line.sku, line.ordered, f"order-{order_id}/line-{line.pk}")
                    for line in lines
                ],
                carrier=self.carrier,
            )
            shipments.append(shipment.pk)
        return shipments

    def sent_purchase_orders(self, count: int = ORDERS) -> list[int]:
        supplier = make_supplier(f"L{self.unique}")
        return [
            make_order(
                f"{self.unique}-{n}",
                supplier,
                [(sku, 5, "1.00") for sku in self.lines(n)],
                number=f"LPO-{self.unique}-{n}",
                destination=self.warehouse,
            ).pk
            for n in range(count)
        ]

    def balances(self) -> list[tuple[int, int, int]]:
        rows = Balance.objects.filter(item__sku__in=self.skus, location__code=self.warehouse).order_by("item__sku")
        return [(row.on_hand, row.reserved, row.inbound) for row in rows]

    def consistent(self) -> bool:
        return [d for d in stock_selectors.check_balances() if d.sku in self.skus] == []


@pytest.fixture
def network(committed_db, unique, settings) -> Network:
    settings.TMS_BASE_URL = ""
    yield Network(unique)
    # The database is shared and committed: leave no workflow step due for the sweepers of later tests.
    FulfillmentWorkflow.objects.filter(order__customer__code=f"LC-{unique}").update(next_attempt_at=None)


# --- The tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("round_no", ROUNDS)
def test_cancelling_40_orders_from_8_clients_never_deadlocks(network, round_no):
    ids = network.reserved_orders()

    without_deadlocks([lambda i=i: orders.order_cancel(order_id=i, reason="customer changed mind") for i in ids])

    assert set(SalesOrder.objects.filter(pk__in=ids).values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert network.balances() == [(10_000, 0, 0), (10_000, 0, 0)]
    assert network.consistent()


@pytest.mark.parametrize("round_no", ROUNDS)
def test_compensating_40_failed_orders_from_8_clients_never_deadlocks(network, round_no):
    ids = network.reserved_orders()

    without_deadlocks(
        [lambda i=i: orders.order_fail(order_id=i, reason="TMS refused", step="plan_shipment", attempts=6) for i in ids]
    )

    assert set(SalesOrder.objects.filter(pk__in=ids).values_list("status", flat=True)) == {OrderStatus.FAILED}
    assert network.balances() == [(10_000, 0, 0), (10_000, 0, 0)]
    assert network.consistent()


@pytest.mark.parametrize("round_no", ROUNDS)
def test_departing_40_two_line_shipments_from_8_clients_never_deadlocks(network, round_no):
    ids = network.reserved_orders()
    shipments = network.planned_shipments(ids)
    shipped = sum(1 + n % 3 for n in range(ORDERS))

    without_deadlocks([lambda s=s: shipping.shipment_depart(shipment_id=s) for s in shipments])

    assert network.balances() == [(10_000 - shipped, 0, 0), (10_000 - shipped, 0, 0)]
    assert network.consistent()


@pytest.mark.parametrize("round_no", ROUNDS)
def test_receiving_40_two_line_purchase_orders_from_8_clients_never_deadlocks(network, round_no):
    purchase_orders = network.sent_purchase_orders()

    without_deadlocks([lambda p=p: suppliers.purchase_order_receive(po_id=p) for p in purchase_orders])

    assert network.balances() == [(10_000 + 5 * ORDERS, 0, 0), (10_000 + 5 * ORDERS, 0, 0)]
    assert network.consistent()


@pytest.mark.parametrize("round_no", ROUNDS)
def test_cancel_fail_ship_and_receive_all_at_once_never_deadlock(network, round_no):
    ids = network.reserved_orders()
    to_cancel, to_fail, to_ship = ids[0:10], ids[10:20], ids[20:30]
    shipments = network.planned_shipments(to_ship)
    purchase_orders = network.sent_purchase_orders(10)
    work = [lambda i=i: orders.order_cancel(order_id=i, reason="changed mind") for i in to_cancel]
    work += [
        lambda i=i: orders.order_fail(order_id=i, reason="refused", step="plan_shipment", attempts=6) for i in to_fail
    ]
    work += [lambda s=s: shipping.shipment_depart(shipment_id=s) for s in shipments]
    work += [lambda p=p: suppliers.purchase_order_receive(po_id=p) for p in purchase_orders]
    held = sum(1 + n % 3 for n in range(30, 40))
    shipped = sum(1 + n % 3 for n in range(20, 30))

    without_deadlocks(work)  # each client gets a mix: jobs are dealt out like cards

    assert network.balances() == [(10_000 - shipped + 50, held, 0), (10_000 - shipped + 50, held, 0)]
    assert network.consistent()
