"""A configuration gap waits, it does not fail: on a fresh database (no TMS, no default carrier) an
order reserves and stays RESERVED, its stock held, however often the sweeper comes by; marking a
carrier default (service or API) plans its shipment without anyone touching the order. A TMS that
refuses the shipment still runs compensation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from werkzeug import Response

from inventory import services as inventory
from inventory.models import Balance
from orders import selectors as order_selectors
from orders import services as orders
from orders import workflow
from orders.metrics import WAITING, WaitingWorkflowsCollector
from orders.models import FulfillmentWorkflow, OrderStatus, SalesOrder, WorkflowStep
from orders.workflow_errors import Disposition, classify
from scm.errors import TransientConflict, ValidationFailed
from scm.events import store, subscriptions
from scm.events.models import Subscription
from scm.roles import PLANNER
from shipments import services as shipments
from shipments.exceptions import (
    InvalidShipmentPlan,
    NoDefaultCarrier,
    TmsAddressRefused,
    TmsBadResponse,
    TmsCredentialsRefused,
    TmsRejected,
    TmsUnavailable,
)
from shipments.models import Carrier, Shipment
from tests.api.helpers import client_for
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db

NO_CARRIER = "no carrier configured"


@pytest.fixture
def fresh(settings):
    """The state right after `migrate`: no TMS, no carrier. Rechecks every 60 s, retries patiently."""
    settings.TMS_BASE_URL = ""
    settings.ORDER_WORKFLOW_WAIT_RECHECK_SECONDS = 60
    settings.ORDER_WORKFLOW_MAX_ATTEMPTS = 3
    settings.ORDER_WORKFLOW_AUTORUN = True  # resumed steps go to a worker (eager) after commit
    assert not Carrier.objects.filter(is_default=True).exists()
    return settings


def reserved_order(unique: str, *, qty: int = 4, n: int = 1) -> tuple[list[SalesOrder], str]:
    sku = ItemFactory(sku=f"CW-{unique}").sku
    warehouse = LocationFactory(code=f"CW-{unique}").code
    inventory.stock_receive(sku=sku, location=warehouse, qty=qty * n + 3)
    orders.customer_upsert(code=f"CW-{unique}", name="Waiting customer")
    created = []
    for i in range(n):
        order, _ = orders.order_create(
            customer=f"CW-{unique}", external_id=f"SO-CW-{i}", lines=[{"sku": sku, "qty": qty}], start_workflow=False
        )
        assert workflow.run_step(order.pk).outcome == "done"  # reserved; plan_shipment is due
        created.append(order)
    return created, sku


def reserved_units(sku: str) -> int:
    return sum(Balance.objects.filter(item__sku=sku).values_list("reserved", flat=True))


def sweep(now, *, times: int, step_seconds: float = 61.0) -> list[workflow.StepResult]:
    """What beat and the workers do, `times` rounds with the clock moved on between rounds."""
    results = []
    for _ in range(times):
        for order_id in workflow.due_workflows(now=now):
            results.append(workflow.run_step(order_id, now=now))
        now += timedelta(seconds=step_seconds)
    return results


def follow_shipments_from_now() -> None:
    """The orders' shipment subscription starts at the head, so only this test's events reach it."""
    Subscription.objects.update_or_create(name="orders.shipments", defaults={"checkpoint": store.head_position()})


def process_orders_shipments() -> None:
    for subscriber in subscriptions.registered():
        if subscriber.name == "orders.shipments":
            assert not subscriptions.process(subscriber).error


def test_fresh_database_order_waits_reserved_for_a_carrier_and_marking_one_default_plans_it(
    fresh, unique, django_capture_on_commit_callbacks
):
    (order,), sku = reserved_order(unique)

    first = workflow.run_step(order.pk)
    results = sweep(timezone.now(), times=12)

    assert first.outcome == "waiting" and first.waiting_for == NO_CARRIER
    assert results and {r.outcome for r in results} == {"waiting"}  # re-checked, never failed
    order.refresh_from_db()
    state = FulfillmentWorkflow.objects.get(order=order)
    assert order.status == OrderStatus.RESERVED
    assert (state.step, state.waiting_for, state.attempts) == (WorkflowStep.PLAN_SHIPMENT, NO_CARRIER, 0)
    assert state.waiting_since is not None and "NoDefaultCarrier" in state.last_error
    assert reserved_units(sku) == 4
    events = [e.type for e in store.read_stream(order.stream)]
    assert events == ["OrderCreated", "OrderReserved", "OrderWaiting"]  # one event for the wait, not per check
    waiting_event = store.read_stream(order.stream)[-1].payload
    assert waiting_event["waiting_for"] == NO_CARRIER and waiting_event["status"] == "RESERVED"
    assert not Shipment.objects.filter(order_ref=f"order-{order.pk}").exists()

    follow_shipments_from_now()
    with django_capture_on_commit_callbacks(execute=True):
        shipments.carrier_upsert(code=f"CW-{unique}", name="First carrier", is_default=True)
    with django_capture_on_commit_callbacks(execute=True):
        process_orders_shipments()  # CarrierDefined resumes the waiting order; its step runs after commit

    state = FulfillmentWorkflow.objects.get(order=order)
    assert (state.step, state.waiting_for, state.waiting_since) == (WorkflowStep.AWAIT_DEPARTURE, "", None)
    planned = Shipment.objects.get(order_ref=f"order-{order.pk}")
    assert planned.carrier.code == f"CW-{unique}"
    assert SalesOrder.objects.get(pk=order.pk).status == OrderStatus.RESERVED
    assert reserved_units(sku) == 4


def test_marking_a_carrier_default_through_the_api_resumes_waiting_orders(
    fresh, unique, django_capture_on_commit_callbacks
):
    placed, sku = reserved_order(unique, n=2)
    for order in placed:
        assert workflow.run_step(order.pk).outcome == "waiting"
    ops = client_for(f"ops-{unique}", "ops")
    created = ops.post("/api/v1/carriers/", {"code": f"CA-{unique}", "name": "Carrier"}, format="json")
    assert created.status_code == 201, created.content
    assert FulfillmentWorkflow.objects.filter(waiting_for=NO_CARRIER, order__in=placed).count() == 2  # not default

    follow_shipments_from_now()
    with django_capture_on_commit_callbacks(execute=True):
        changed = ops.patch(f"/api/v1/carriers/CA-{unique}/", {"is_default": True}, format="json")
    assert changed.status_code == 200, changed.content
    with django_capture_on_commit_callbacks(execute=True):
        process_orders_shipments()

    for order in placed:
        state = FulfillmentWorkflow.objects.get(order=order)
        assert (state.step, state.waiting_for) == (WorkflowStep.AWAIT_DEPARTURE, "")
        assert Shipment.objects.filter(order_ref=f"order-{order.pk}", carrier__code=f"CA-{unique}").count() == 1
        detail = ops.get(f"/api/v1/orders/{order.pk}/").json()
        assert detail["status"] == "RESERVED" and detail["workflow"]["waiting_for"] == ""
    assert reserved_units(sku) == 8


def test_the_sweeper_probes_one_waiting_order_per_reason_and_its_success_resumes_the_rest(fresh, unique):
    placed, _ = reserved_order(unique, n=3)
    now = timezone.now()
    for order in placed:
        assert workflow.run_step(order.pk, now=now).outcome == "waiting"
    later = now + timedelta(seconds=61)

    due = [order_id for order_id in workflow.due_workflows(now=later) if order_id in {o.pk for o in placed}]

    assert due == [placed[0].pk]  # one probe for the reason; the others' re-check moved on
    pushed = FulfillmentWorkflow.objects.filter(order__in=placed[1:]).values_list("next_attempt_at", flat=True)
    assert all(at > later for at in pushed)

    Carrier.objects.create(code=f"CP-{unique}", name="Set up in the admin", is_default=True)  # no event on purpose
    assert workflow.run_step(placed[0].pk, now=later).outcome == "done"  # the probe finds the carrier

    rest = FulfillmentWorkflow.objects.filter(order__in=placed[1:])
    assert {(w.waiting_for, w.next_attempt_at <= timezone.now()) for w in rest} == {("", True)}
    for order in placed[1:]:
        assert workflow.run_step(order.pk).outcome == "done"
    assert Shipment.objects.filter(order_ref__in=[f"order-{o.pk}" for o in placed]).count() == 3


def test_a_waiting_order_shows_on_the_api_the_dashboard_and_in_metrics(fresh, unique, client):
    (order,), _ = reserved_order(unique)
    workflow.run_step(order.pk)

    detail = client_for(f"pl-{unique}", "planner").get(f"/api/v1/orders/{order.pk}/").json()
    assert detail["status"] == "RESERVED"
    assert detail["workflow"]["waiting_for"] == NO_CARRIER and detail["workflow"]["waiting_since"]
    assert order_selectors.waiting_counts() == {NO_CARRIER: 1}
    samples = {s.labels["reason"]: s.value for family in WaitingWorkflowsCollector().collect() for s in family.samples}
    assert samples[NO_CARRIER] == 1 and samples["TMS credentials refused"] == 0
    assert all(family.name == WAITING for family in WaitingWorkflowsCollector().collect())

    user = User.objects.create_user(f"planner-{unique}", password="pw")
    user.groups.add(Group.objects.get(name=PLANNER))
    client.force_login(user)
    page = client.get("/supplier-exceptions/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="waiting-orders"' in html and f'data-order="{order.pk}"' in html and NO_CARRIER in html


def test_cancelling_a_waiting_order_releases_its_stock_and_ends_the_wait(fresh, unique):
    (order,), sku = reserved_order(unique)
    workflow.run_step(order.pk)

    orders.order_cancel(order_id=order.pk, reason="customer changed mind")

    state = FulfillmentWorkflow.objects.get(order=order)
    assert (state.step, state.waiting_for, state.waiting_since) == (WorkflowStep.CANCELLED, "", None)
    assert reserved_units(sku) == 0
    assert order_selectors.waiting_counts() == {}


# --- With a TMS: credentials and addresses wait, refusals compensate ---------------------------


@pytest.fixture
def tms(httpserver, fresh):
    fresh.TMS_BASE_URL = httpserver.url_for("/")
    fresh.TMS_MAX_ATTEMPTS = 1
    fresh.TMS_CIRCUIT_FAILURE_THRESHOLD = 100
    fresh.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    return httpserver


def answer_in_sequence(server, answers):
    calls = []

    def handler(request):
        calls.append(request.get_json())
        status, body = answers[min(len(calls) - 1, len(answers) - 1)]
        return Response(response=json.dumps(body), status=status, content_type="application/json")

    server.expect_request("/shipments", method="POST").respond_with_handler(handler)
    return calls


def test_tms_refusing_the_shipment_still_compensates(tms, unique):
    (order,), sku = reserved_order(unique)
    answer_in_sequence(tms, [(422, {"error": "cannot ship hazardous goods to this address"})])

    assert workflow.run_step(order.pk).outcome == "failed"

    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED and "hazardous" in order.status_reason
    assert reserved_units(sku) == 0
    assert FulfillmentWorkflow.objects.get(order=order).waiting_for == ""


def test_tms_refusing_our_credentials_waits_until_it_takes_them(tms, unique):
    (order,), sku = reserved_order(unique)
    calls = answer_in_sequence(
        tms,
        [
            (401, {"error": "bad api key"}),
            (401, {"error": "bad api key"}),
            (200, {"carrier": "TK", "tracking_number": "T1"}),
        ],
    )
    now = timezone.now()

    assert workflow.run_step(order.pk, now=now).outcome == "waiting"
    results = sweep(now + timedelta(seconds=61), times=2)

    assert [r.outcome for r in results] == ["waiting", "done"]
    assert len(calls) == 3
    state = FulfillmentWorkflow.objects.get(order=order)
    assert (state.step, state.waiting_for) == (WorkflowStep.AWAIT_DEPARTURE, "")
    assert SalesOrder.objects.get(pk=order.pk).status == OrderStatus.RESERVED and reserved_units(sku) == 4


def test_tms_address_refused_by_the_outbound_policy_waits(tms, fresh, unique):
    (order,), sku = reserved_order(unique)
    fresh.OUTBOUND_ALLOWED_NETWORKS = []  # the loopback TMS is not allowed: nothing is sent

    result = workflow.run_step(order.pk)

    assert (result.outcome, result.waiting_for) == ("waiting", "TMS address not allowed")
    assert SalesOrder.objects.get(pk=order.pk).status == OrderStatus.RESERVED and reserved_units(sku) == 4


# --- The classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "disposition", "reason"),
    [
        (NoDefaultCarrier(), Disposition.WAIT, NO_CARRIER),
        (TmsAddressRefused("refused"), Disposition.WAIT, "TMS address not allowed"),
        (TmsCredentialsRefused("401"), Disposition.WAIT, "TMS credentials refused"),
        (TmsUnavailable("timeout"), Disposition.RETRY, ""),
        (TransientConflict("deadlock"), Disposition.RETRY, ""),
        (RuntimeError("a bug"), Disposition.RETRY, ""),
        (TmsRejected("cannot ship"), Disposition.COMPENSATE, ""),
        (TmsBadResponse("not JSON"), Disposition.COMPENSATE, ""),
        (InvalidShipmentPlan("no lines"), Disposition.COMPENSATE, ""),
        (ValidationFailed("bad carrier code"), Disposition.COMPENSATE, ""),
    ],
)
def test_every_error_has_one_answer(error, disposition, reason):
    verdict = classify(error)
    assert (verdict.disposition, verdict.waiting_for) == (disposition, reason)


def test_database_errors_retry():
    from django.db import OperationalError

    assert classify(OperationalError("server closed the connection")).disposition == Disposition.RETRY
