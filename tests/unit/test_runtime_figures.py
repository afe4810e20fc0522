"""The runtime figures /readyz and /metrics share (scm.observability.runtime), each against the real
thing: queue lengths in Redis (TEST_REDIS_URL), workflow rows and breaker rows in the database.

Tests share one database, so the oldest due step is made older than anything else could be
(1990), and breaker figures are read for the rows a test created.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery import Celery

from orders.models import FulfillmentWorkflow, WorkflowStep
from scm import queues
from scm.observability import runtime
from scm.outbound.models import Breaker, BreakerState
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(1990, 1, 1, tzinfo=UTC)


@pytest.fixture
def broker():
    """TEST_REDIS_URL with every queue list (all priorities) emptied before and after."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip("needs Redis: set TEST_REDIS_URL")
    client = redis.Redis.from_url(url)
    keys = [key for queue in queues.ALL for key in runtime.queue_keys(queue)]
    client.delete(*keys)
    yield url, client
    client.delete(*keys)
    client.close()


def stalled(step: str = WorkflowStep.RESERVE, **fields) -> FulfillmentWorkflow:
    order = OrderFactory()
    FulfillmentWorkflow.objects.filter(order=order).update(step=step, next_attempt_at=LONG_AGO, **fields)
    return FulfillmentWorkflow.objects.get(order=order)


# --- queue depth ------------------------------------------------------------------------------


def test_without_a_broker_queues_are_eager():
    assert runtime.queue_depths(redis_url="") == runtime.EAGER


@pytest.mark.redis
def test_queue_depth_counts_each_queue_and_its_priority_lists(broker):
    url, client = broker
    client.lpush(queues.WORKFLOW, "a", "b", "c")
    client.lpush(f"{queues.WORKFLOW}\x06\x169", "urgent")
    client.lpush(queues.WEBHOOKS, "w")
    assert runtime.queue_depths(redis_url=url) == {
        queues.WORKFLOW: 4,
        queues.EVENTS: 0,
        queues.WEBHOOKS: 1,
        queues.PARTNERS: 0,
        queues.MAINTENANCE: 0,
    }


@pytest.mark.redis
def test_queue_depth_counts_what_celery_really_publishes_at_every_priority(broker):
    """The key names are kombu's, not a guess: messages sent by Celery land where we count."""
    url, _ = broker
    sender = Celery("runtime-figures-test", broker=url, set_as_current=False)
    try:
        for priority in (0, 4, 9):
            sender.send_task("tests.never_runs", queue=queues.PARTNERS, priority=priority)
    finally:
        sender.close()
    assert runtime.queue_depths(redis_url=url)[queues.PARTNERS] == 3


def test_an_unreachable_broker_raises_for_the_caller_to_name():
    with pytest.raises(redis.exceptions.ConnectionError):
        runtime.queue_depths(redis_url="redis://127.0.0.1:1/0")


# --- oldest due step --------------------------------------------------------------------------


def test_oldest_due_step_is_the_longest_waiting_unleased_runnable_step():
    workflow = stalled(WorkflowStep.PLAN_SHIPMENT)
    due = runtime.oldest_due_step(now=NOW)
    assert due == runtime.DueStep(
        order_id=workflow.order_id,
        step=WorkflowStep.PLAN_SHIPMENT,
        due_since=LONG_AGO,
        age_seconds=(NOW - LONG_AGO).total_seconds(),
    )
    assert due.as_json()["due_since"] == "1990-01-01T00:00:00+00:00"


def test_a_step_a_live_lease_holds_is_not_waiting_but_an_expired_lease_is():
    workflow = stalled(lease_until=NOW + timedelta(seconds=30))
    due = runtime.oldest_due_step(now=NOW)
    assert due is None or due.order_id != workflow.order_id
    FulfillmentWorkflow.objects.filter(pk=workflow.pk).update(lease_until=NOW - timedelta(seconds=1))
    assert runtime.oldest_due_step(now=NOW).order_id == workflow.order_id


@pytest.mark.parametrize("step", [WorkflowStep.AWAIT_STOCK, WorkflowStep.AWAIT_DEPARTURE, WorkflowStep.FAILED])
def test_steps_that_wait_on_events_are_not_due_work(step):
    workflow = stalled(step)
    due = runtime.oldest_due_step(now=NOW)
    assert due is None or due.order_id != workflow.order_id


# --- open breakers ----------------------------------------------------------------------------


def test_open_breakers_are_listed_with_since_and_until_and_closed_ones_are_not(unique):
    failed_at = NOW - timedelta(seconds=40)
    Breaker.objects.create(
        name=f"webhook:{unique}",
        state=BreakerState.OPEN,
        opened_until=NOW + timedelta(seconds=20),
        last_failure_at=failed_at,
        last_error="ConnectTimeout: no answer",
        consecutive_failures=5,
    )
    Breaker.objects.create(name=f"tms@{unique}:443", state=BreakerState.CLOSED, consecutive_failures=1)
    mine = [b for b in runtime.open_breakers() if unique in b.name]
    assert [runtime.breaker_as_json(b) for b in mine] == [
        {
            "name": f"webhook:{unique}",
            "kind": "webhook",
            "state": "open",
            "since": failed_at.isoformat(),
            "until": (NOW + timedelta(seconds=20)).isoformat(),
            "last_error": "ConnectTimeout: no answer",
        }
    ]


# --- stall reasons ----------------------------------------------------------------------------


def due_step(age: float) -> runtime.DueStep:
    return runtime.DueStep(order_id=7, step="reserve", due_since=NOW - timedelta(seconds=age), age_seconds=age)


def test_a_step_due_for_exactly_the_threshold_is_not_a_stall(settings):
    settings.READINESS_MAX_DUE_STEP_AGE_SECONDS = 300
    settings.READINESS_MAX_WORKFLOW_QUEUE_DEPTH = 10
    assert runtime.fulfillment_stalls(due=due_step(300), depths={queues.WORKFLOW: 10}) == []
    assert runtime.fulfillment_stalls(due=due_step(301), depths={queues.WORKFLOW: 11}) == [
        "the oldest due workflow step (order 7, reserve) has waited 301 s for a worker (more than 300)",
        "the workflow queue holds 11 messages (more than 10)",
    ]


def test_only_the_workflow_queue_counts_and_negative_thresholds_switch_checks_off(settings):
    settings.READINESS_MAX_DUE_STEP_AGE_SECONDS = -1
    settings.READINESS_MAX_WORKFLOW_QUEUE_DEPTH = 10
    deep_elsewhere = {queues.WORKFLOW: 0, queues.WEBHOOKS: 10_000, queues.PARTNERS: 10_000}
    assert runtime.fulfillment_stalls(due=due_step(10**6), depths=deep_elsewhere) == []
    settings.READINESS_MAX_WORKFLOW_QUEUE_DEPTH = -1
    assert runtime.fulfillment_stalls(due=None, depths={queues.WORKFLOW: 10**6}) == []
    assert runtime.fulfillment_stalls(due=None, depths=runtime.EAGER) == []
