"""The fulfillment saga end to end: a real TMS stand-in over loopback HTTP, retries with growing
delays, compensation, and an order shipped in two parts moved by shipment events."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from inventory.models import Balance
from orders import services as orders
from orders import workflow
from orders.models import FulfillmentWorkflow, OrderStatus, SalesOrder, WorkflowStep
from scm.events import store, subscriptions
from scm.events.models import Subscription
from shipments import services as shipments
from shipments.models import Shipment
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db

PLAN_ANSWER = {"carrier": "TMSX", "tracking_number": "TRK-1", "estimated_arrival": "2030-01-05"}


@pytest.fixture
def tms(httpserver, settings):
    """A TMS on loopback; the adapter makes one attempt per workflow try so the workflow's own
    retries are what the tests see."""
    settings.TMS_BASE_URL = httpserver.url_for("/")
    settings.TMS_MAX_ATTEMPTS = 1
    settings.TMS_CIRCUIT_FAILURE_THRESHOLD = 100
    settings.ORDER_WORKFLOW_MAX_ATTEMPTS = 4
    settings.ORDER_WORKFLOW_RETRY_BASE_SECONDS = 10
    settings.ORDER_WORKFLOW_RETRY_CAP_SECONDS = 600
    return httpserver


@pytest.fixture
def reserved_order(unique):
    sku = ItemFactory(sku=f"WF-{unique}").sku
    w1 = LocationFactory(code=f"WF1-{unique}", allocation_rank=1).code
    w2 = LocationFactory(code=f"WF2-{unique}", allocation_rank=2).code
    from inventory import services as inventory

    inventory.stock_receive(sku=sku, location=w1, qty=6)
    inventory.stock_receive(sku=sku, location=w2, qty=4)
    orders.customer_upsert(code=f"WF-{unique}", name="Workflow customer")
    order, _ = orders.order_create(
        customer=f"WF-{unique}", external_id="SO-WF", lines=[{"sku": sku, "qty": 10}], start_workflow=False
    )
    assert workflow.run_step(order.pk).outcome == "done"  # the reserve step
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    return order, sku, w1, w2


def respond_in_sequence(server, answers):
    """Each request to /shipments gets the next answer (status, body)."""
    calls = []

    def handler(request):
        calls.append(request.get_json())
        status, body = answers[min(len(calls) - 1, len(answers) - 1)]
        if status < 300:
            body = {**body, "tracking_number": f"{body['tracking_number']}-{len(calls)}"}
        return Response(response=json.dumps(body), status=status, content_type="application/json")

    server.expect_request("/shipments", method="POST").respond_with_handler(handler)
    return calls


def run_until_settled(order_id: int, *, tries: int = 10) -> list[workflow.StepResult]:
    """Run the step again each time it is due, moving the clock to its next attempt."""
    results, now = [], timezone.now()
    for _ in range(tries):
        result = workflow.run_step(order_id, now=now)
        results.append(result)
        if result.outcome != "retry":
            break
        now = FulfillmentWorkflow.objects.get(order_id=order_id).next_attempt_at
    return results


def reserved_units(sku: str) -> int:
    return sum(Balance.objects.filter(item__sku=sku).values_list("reserved", flat=True))


def test_tms_failing_twice_then_answering_is_retried_with_growing_delays(tms, reserved_order):
    order, sku, _, _ = reserved_order
    calls = respond_in_sequence(tms, [(503, {"error": "busy"}), (503, {"error": "busy"}), (200, PLAN_ANSWER)])

    results = run_until_settled(order.pk)

    assert [r.outcome for r in results] == ["retry", "retry", "done"]
    first, second = results[0].retry_in, results[1].retry_in
    assert 5 <= first <= 10 and 10 <= second <= 20 and second > first
    # Two locations: each successful try plans both shipments; every call for one location reuses its key.
    assert len(Shipment.objects.filter(order_ref=f"order-{order.pk}")) == 2
    assert FulfillmentWorkflow.objects.get(order=order).step == WorkflowStep.AWAIT_DEPARTURE
    assert reserved_units(sku) == 10
    keys = {call["plan_key"] for call in calls}
    assert len(keys) == 2


def test_tms_down_beyond_the_retries_keeps_the_stock_and_waits_until_it_answers(tms, reserved_order):
    """A TMS outage is not a refusal to ship: after the last retry the order stays RESERVED with its
    stock, waiting for "TMS unavailable"; the sweeper's re-check plans it once the TMS answers."""
    order, sku, _, _ = reserved_order
    respond_in_sequence(tms, [(503, {"error": "down for maintenance"})])

    results = run_until_settled(order.pk)

    assert [r.outcome for r in results] == ["retry", "retry", "retry", "waiting"]
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    assert reserved_units(sku) == 10
    flow = FulfillmentWorkflow.objects.get(order=order)
    assert flow.waiting_for == "TMS unavailable" and "down for maintenance" in flow.last_error
    assert [e.type for e in store.read_stream(order.stream)] == ["OrderCreated", "OrderReserved", "OrderWaiting"]

    tms.clear()
    respond_in_sequence(tms, [(200, PLAN_ANSWER)])
    assert workflow.run_step(order.pk, now=flow.next_attempt_at).outcome == "done"
    flow.refresh_from_db()
    assert flow.step == WorkflowStep.AWAIT_DEPARTURE and flow.waiting_for == ""
    assert reserved_units(sku) == 10


def test_tms_refusal_is_not_retried(tms, reserved_order):
    order, sku, _, _ = reserved_order
    calls = respond_in_sequence(tms, [(400, {"error": "unknown destination"})])

    results = run_until_settled(order.pk)

    assert [r.outcome for r in results] == ["failed"]
    assert len(calls) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED and "unknown destination" in order.status_reason
    assert reserved_units(sku) == 0


def test_order_of_10_shipped_as_6_then_4_is_partially_then_fully_fulfilled(reserved_order, settings):
    order, sku, w1, w2 = reserved_order
    settings.TMS_BASE_URL = ""
    shipments.carrier_upsert(code=f"DEF-{order.pk}", name="Default carrier", is_default=True)
    head = store.head_position()
    Subscription.objects.update_or_create(name="orders.shipments", defaults={"checkpoint": head})
    Subscription.objects.update_or_create(name="orders.backorders", defaults={"checkpoint": head})

    assert workflow.run_step(order.pk).outcome == "done"  # plans one shipment per warehouse
    by_location = {s.from_location: s for s in Shipment.objects.filter(order_ref=f"order-{order.pk}")}
    assert {loc: sum(line.qty for line in s.lines.all()) for loc, s in by_location.items()} == {w1: 6, w2: 4}

    def stock(location):
        balance = Balance.objects.get(item__sku=sku, location__code=location)
        return balance.on_hand, balance.reserved

    shipments.shipment_depart(shipment_id=by_location[w1].pk)
    subscriptions.process_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_FULFILLED
    assert (stock(w1), stock(w2)) == ((0, 0), (4, 4))
    assert [(li.shipped, li.reserved) for li in order.lines.all()] == [(6, 4)]

    shipments.shipment_depart(shipment_id=by_location[w2].pk)
    now = timezone.now()
    shipments.tracking_update_ingest(
        raw={"status": "DELIVERED", "occurred_at": now.isoformat()}, source="api", shipment_id=by_location[w1].pk
    )
    subscriptions.process_all()
    order.refresh_from_db()
    assert order.status == OrderStatus.PARTIALLY_FULFILLED
    assert (stock(w1), stock(w2)) == ((0, 0), (0, 0))

    shipments.tracking_update_ingest(
        raw={"status": "DELIVERED", "occurred_at": (now + timedelta(seconds=1)).isoformat()},
        source="api",
        shipment_id=by_location[w2].pk,
    )
    subscriptions.process_all()
    order = SalesOrder.objects.get(pk=order.pk)
    assert order.status == OrderStatus.FULFILLED
    assert FulfillmentWorkflow.objects.get(order=order).step == WorkflowStep.DONE
    assert [e.type for e in store.read_stream(order.stream)] == [
        "OrderCreated",
        "OrderReserved",
        "OrderPartiallyFulfilled",
        "OrderPartiallyFulfilled",
        "OrderFulfilled",
    ]
