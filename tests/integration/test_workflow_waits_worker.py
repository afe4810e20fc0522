"""The done-when of a configuration gap, on the running system: a real Celery worker with beat on
Redis, no TMS and no default carrier. The order reserves and stays RESERVED, waiting for a carrier,
through many sweeps; marking a carrier default (in another process, as an admin would) plans its
shipment without anyone touching the order: the worker's subscription processor sees
`CarrierDefined` and resumes the waiting order."""

from __future__ import annotations

import os
import signal

import pytest
from celery import Celery
from django.db import connection

from inventory import services as inventory
from inventory.models import Balance
from orders import services as orders
from orders import workflow
from orders.models import FulfillmentWorkflow, OrderStatus, SalesOrder, WorkflowStep
from scm.events import store
from scm.events.models import Subscription
from shipments import services as shipments
from shipments.models import Carrier, PlanningAttempt, Shipment
from tests.factories import ItemFactory, LocationFactory
from tests.integration.test_workflow_worker_crash import poll, start_worker, stop

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]

NO_CARRIER = "no carrier configured"


@pytest.fixture
def no_default_carrier(committed_db):
    """The committed database may hold other tests' default carrier: set it aside, then put it back."""
    previous = list(Carrier.objects.filter(is_default=True).values_list("pk", flat=True))
    Carrier.objects.filter(pk__in=previous).update(is_default=False)
    yield
    Carrier.objects.filter(is_default=True).update(is_default=False)
    Carrier.objects.filter(pk__in=previous).update(is_default=True)


def test_order_waits_for_a_carrier_under_a_real_worker_and_resumes_when_one_is_marked_default(
    no_default_carrier, unique, tmp_path, settings
):
    settings.TMS_BASE_URL = ""
    redis_url = os.environ["TEST_REDIS_URL"]
    sku = ItemFactory(sku=f"WW-{unique}").sku
    warehouse = LocationFactory(code=f"WW-{unique}").code
    inventory.stock_receive(sku=sku, location=warehouse, qty=10)
    orders.customer_upsert(code=f"WW-{unique}", name="Waiting worker customer")
    order, _ = orders.order_create(
        customer=f"WW-{unique}", external_id="SO-WW", lines=[{"sku": sku, "qty": 7}], start_workflow=False
    )
    assert workflow.run_step(order.pk).outcome == "done"  # reserved; plan_shipment is due

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "waits-test",
        "TMS_BASE_URL": "",
        "ORDER_WORKFLOW_AUTORUN": "1",
        "ORDER_WORKFLOW_MAX_ATTEMPTS": "2",  # a wait that burned attempts would fail the order at once
        "ORDER_WORKFLOW_WAIT_RECHECK_SECONDS": "1",
        "EVENT_DISPATCH_ON_COMMIT": "1",
        "WORKFLOW_SWEEP_SECONDS": "1",
        "SUBSCRIPTION_POLL_SECONDS": "1",
    }
    client = Celery("waits-test-client", broker=redis_url, set_as_current=False)
    worker = start_worker(env, tmp_path / "worker.log", "--beat", f"--schedule={tmp_path / 'beat-schedule'}")
    try:
        client.send_task("orders.tasks.run_fulfillment_step", args=[order.pk])
        poll(
            lambda: FulfillmentWorkflow.objects.get(order=order).waiting_for == NO_CARRIER,
            seconds=60,
            what="the order to wait for a carrier",
        )
        # The sweeper re-checks it (one planning attempt per check); it keeps waiting, never fails.
        poll(
            lambda: PlanningAttempt.objects.filter(order_ref=f"order-{order.pk}").count() >= 4,
            seconds=60,
            what="several re-checks by the sweeper",
        )
        state = FulfillmentWorkflow.objects.get(order=order)
        assert (state.step, state.waiting_for) == (WorkflowStep.PLAN_SHIPMENT, NO_CARRIER)
        # No attempts burned: 0 between re-checks, 1 while a re-check holds its claim (read mid-check).
        assert state.attempts <= 1
        assert SalesOrder.objects.get(pk=order.pk).status == OrderStatus.RESERVED
        assert Balance.objects.get(item__sku=sku, location__code=warehouse).reserved == 7

        # Only this test's carrier event matters to the orders subscription; older events are not ours.
        Subscription.objects.update_or_create(name="orders.shipments", defaults={"checkpoint": store.head_position()})
        shipments.carrier_upsert(code=f"WW-{unique}", name="Carrier set up at last", is_default=True)
        poll(
            lambda: FulfillmentWorkflow.objects.get(order=order).step == WorkflowStep.AWAIT_DEPARTURE,
            seconds=60,
            what="the shipment to be planned",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- worker log ---\n{(tmp_path / 'worker.log').read_text()[-4000:]}") from None
    finally:
        stop(worker, signal.SIGTERM)

    state = FulfillmentWorkflow.objects.get(order=order)
    assert (state.waiting_for, state.waiting_since) == ("", None)
    assert Shipment.objects.get(order_ref=f"order-{order.pk}").carrier.code == f"WW-{unique}"
    assert SalesOrder.objects.get(pk=order.pk).status == OrderStatus.RESERVED
    assert Balance.objects.get(item__sku=sku, location__code=warehouse).reserved == 7
    assert [e.type for e in store.read_stream(order.stream)] == ["OrderCreated", "OrderReserved", "OrderWaiting"]
