"""Orders: creation rules, allocation with explanations, backorders filled by the event subscription,
priority, cancellation, failure and retry, and the order's readable history."""

from __future__ import annotations

from datetime import date

import pytest

from inventory import services as inventory
from inventory.models import Balance, Reservation
from orders import selectors as order_selectors
from orders import services as orders
from orders.exceptions import (
    DuplicateExternalId,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidOrder,
    UnknownCustomer,
)
from orders.models import FulfillmentWorkflow, OrderStatus, SalesOrder, WorkflowStep
from scm.events import store, subscriptions
from scm.events.models import Subscription
from tests.factories import CustomerFactory, ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def network(unique):
    """Customer C, SKUs A, B, C and two warehouses W1 (rank 1) and W2 (rank 2), all empty."""
    CustomerFactory(code=f"C-{unique}")
    codes = {
        "customer": f"C-{unique}",
        "A": ItemFactory(sku=f"A-{unique}").sku,
        "B": ItemFactory(sku=f"B-{unique}").sku,
        "C": ItemFactory(sku=f"C-{unique}").sku,
        "W1": LocationFactory(code=f"W1-{unique}", allocation_rank=1).code,
        "W2": LocationFactory(code=f"W2-{unique}", allocation_rank=2).code,
    }
    return codes


def create(network, external_id: str, lines: list[tuple[str, int]], **kwargs) -> SalesOrder:
    order, _ = orders.order_create(
        customer=network["customer"],
        external_id=external_id,
        lines=[{"sku": network[sku], "qty": qty} for sku, qty in lines],
        start_workflow=False,
        **kwargs,
    )
    return order


def follow_subscriptions_from_now():
    """Start the orders subscribers at the head of the log, so earlier tests' events are not replayed."""
    head = store.head_position()
    for name in ("orders.backorders", "orders.shipments"):
        Subscription.objects.update_or_create(name=name, defaults={"checkpoint": head})


def run_subscriptions():
    subscriptions.process_all()


def line_state(order: SalesOrder) -> list[tuple[int, int, int]]:
    return [(line.ordered, line.reserved, line.backordered) for line in order.lines.order_by("line_no")]


def test_order_for_three_skus_with_one_short_is_backordered_and_a_receipt_reserves_it(network):
    follow_subscriptions_from_now()
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=10)
    inventory.stock_receive(sku=network["B"], location=network["W2"], qty=10)
    inventory.inbound_add(
        sku=network["C"], location=network["W1"], qty=20, reference="PO-9/1", expected_date=date(2030, 3, 1)
    )
    order = create(network, "SO-1", [("A", 4), ("B", 5), ("C", 3)])

    orders.order_allocate(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.BACKORDERED
    assert line_state(order) == [(4, 4, 0), (5, 5, 0), (3, 0, 3)]
    backordered = store.read_stream(order.stream)[-1]
    assert backordered.type == "OrderBackordered"
    short = next(line for line in backordered.payload["lines"] if line["sku"] == network["C"])
    assert short["expected_supply"]["covered_by"] == [
        {"reference": "PO-9/1", "location": network["W1"], "expected_date": "2030-03-01", "qty": 3}
    ]
    assert short["expected_supply"]["promise_date"] == "2030-03-01"

    # Stock arrives; nobody calls orders code: the subscription does.
    inventory.stock_receive(sku=network["C"], location=network["W2"], qty=3)
    run_subscriptions()

    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    assert line_state(order) == [(4, 4, 0), (5, 5, 0), (3, 3, 0)]
    assert [e.type for e in store.read_stream(order.stream)] == ["OrderCreated", "OrderBackordered", "OrderReserved"]
    assert FulfillmentWorkflow.objects.get(order=order).step == WorkflowStep.PLAN_SHIPMENT


def test_allocation_prefers_one_location_and_explains_the_choice(network):
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=3)
    inventory.stock_receive(sku=network["A"], location=network["W2"], qty=8)
    order = create(network, "SO-2", [("A", 5)])

    orders.order_allocate(order_id=order.pk)

    event = store.read_stream(order.stream)[-1]
    line = event.payload["lines"][0]
    assert line["allocations"] == [{"location": network["W2"], "qty": 5}]
    assert line["rule"] == "single location covers the line"
    assert {c["location"]: (c["available"], c["chosen"]) for c in line["candidates"]} == {
        network["W1"]: (3, 0),
        network["W2"]: (8, 5),
    }


def test_allocation_splits_when_no_location_covers_the_line(network):
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=3)
    inventory.stock_receive(sku=network["A"], location=network["W2"], qty=4)
    order = create(network, "SO-3", [("A", 6)])

    orders.order_allocate(order_id=order.pk)

    line = order.lines.get()
    assert {a.location: a.reserved for a in line.allocations.all()} == {network["W2"]: 4, network["W1"]: 2}
    assert (
        Reservation.objects.get(holder=f"order-{order.pk}/line-{line.pk}", location__code=network["W1"]).quantity == 2
    )


def test_allocating_twice_changes_nothing_the_second_time(network):
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=2)
    order = create(network, "SO-4", [("A", 5)])
    orders.order_allocate(order_id=order.pk)
    events_before = len(store.read_stream(order.stream))

    outcome = orders.order_allocate(order_id=order.pk)

    assert outcome.changed is False
    assert len(store.read_stream(order.stream)) == events_before
    assert Balance.objects.get(item__sku=network["A"], location__code=network["W1"]).reserved == 2


def test_two_backorders_compete_priority_wins_then_age(network):
    follow_subscriptions_from_now()
    older_low = create(network, "SO-old-low", [("A", 5)], priority=5)
    newer_high = create(network, "SO-new-high", [("A", 5)], priority=1)
    newest_high = create(network, "SO-newest-high", [("A", 5)], priority=1)
    for order in (older_low, newer_high, newest_high):
        orders.order_allocate(order_id=order.pk)

    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=5)
    run_subscriptions()
    statuses = {
        o.external_id: o.status for o in SalesOrder.objects.filter(pk__in=[older_low.pk, newer_high.pk, newest_high.pk])
    }
    assert statuses == {"SO-old-low": "BACKORDERED", "SO-new-high": "RESERVED", "SO-newest-high": "BACKORDERED"}

    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=5)
    run_subscriptions()
    assert SalesOrder.objects.get(pk=newest_high.pk).status == "RESERVED"
    assert SalesOrder.objects.get(pk=older_low.pk).status == "BACKORDERED"


def test_cancellation_releases_every_reservation_and_is_recorded(network):
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=3)
    inventory.stock_receive(sku=network["A"], location=network["W2"], qty=3)
    order = create(network, "SO-5", [("A", 5)])
    orders.order_allocate(order_id=order.pk)

    orders.order_cancel(order_id=order.pk, reason="customer changed their mind", actor="user:ops")

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert [b.reserved for b in Balance.objects.filter(item__sku=network["A"])] == [0, 0]
    cancelled = store.read_stream(order.stream)[-1]
    assert cancelled.type == "OrderCancelled"
    assert sorted(r["qty"] for r in cancelled.payload["released"]) == [2, 3]
    with pytest.raises(IllegalTransition):
        orders.order_cancel(order_id=order.pk, reason="again")


def test_failure_compensates_and_ops_can_retry(network):
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=5)
    order = create(network, "SO-6", [("A", 5)])
    orders.order_allocate(order_id=order.pk)

    orders.order_fail(order_id=order.pk, reason="TMS rejected", step="plan_shipment", attempts=3)
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED
    assert Balance.objects.get(item__sku=network["A"]).reserved == 0
    with pytest.raises(IllegalTransition):
        orders.order_fail(order_id=order.pk, reason="again", step="plan_shipment", attempts=1)

    orders.order_retry(order_id=order.pk, actor="user:ops")
    orders.order_allocate(order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    assert FulfillmentWorkflow.objects.get(order=order).generation == 2
    assert [e.type for e in store.read_stream(order.stream)] == [
        "OrderCreated",
        "OrderReserved",
        "OrderFailed",
        "OrderRetried",
        "OrderReserved",
    ]


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], InvalidOrder),
        ([("A", 0)], InvalidOrder),
        ([("A", -2)], InvalidOrder),
        ([("A", 1), ("A", 2)], InvalidOrder),
    ],
)
def test_bad_orders_are_refused_and_nothing_is_written(network, lines, error):
    before = SalesOrder.objects.count()
    with pytest.raises(error):
        create(network, "SO-bad", lines)
    assert SalesOrder.objects.count() == before


def test_unknown_customer_and_sku_are_refused(network):
    from inventory.exceptions import UnknownSku

    with pytest.raises(UnknownCustomer):
        orders.order_create(customer="nobody", external_id="x", lines=[{"sku": network["A"], "qty": 1}])
    with pytest.raises(UnknownSku):
        orders.order_create(customer=network["customer"], external_id="x", lines=[{"sku": "NOPE", "qty": 1}])


def test_idempotency_key_returns_the_first_order_and_refuses_a_different_request(network):
    first, created = orders.order_create(
        customer=network["customer"],
        external_id="SO-7",
        lines=[{"sku": network["A"], "qty": 1}],
        idempotency_key="k-1",
        start_workflow=False,
    )
    again, created_again = orders.order_create(
        customer=network["customer"],
        external_id="SO-7",
        lines=[{"sku": network["A"], "qty": 1}],
        idempotency_key="k-1",
        start_workflow=False,
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    with pytest.raises(IdempotencyKeyReused):
        orders.order_create(
            customer=network["customer"],
            external_id="SO-7",
            lines=[{"sku": network["A"], "qty": 2}],
            idempotency_key="k-1",
            start_workflow=False,
        )
    with pytest.raises(DuplicateExternalId):
        orders.order_create(customer=network["customer"], external_id="SO-7", lines=[{"sku": network["A"], "qty": 1}])


def test_history_reads_as_who_what_when_why(network):
    inventory.stock_receive(sku=network["A"], location=network["W1"], qty=1)
    order = create(network, "SO-8", [("A", 3)])
    orders.order_allocate(order_id=order.pk)
    orders.order_cancel(order_id=order.pk, reason="out of patience", actor="user:ann")

    history = order_selectors.order_history(order_id=order.pk)

    assert [entry["what"] for entry in history] == [
        "Order created with 1 line(s)",
        "Backordered 2 unit(s); reserved 1",
        "Cancelled",
    ]
    assert "out of patience" in history[-1]["why"]
    assert all(entry["when"] for entry in history)
