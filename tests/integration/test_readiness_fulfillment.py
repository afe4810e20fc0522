"""/readyz and /metrics tell the truth about fulfillment: queue depths, the oldest due workflow step
and open breakers, and a 503 naming why when fulfillment is stalled.

In-process (Django test client) against PostgreSQL and the Redis db of TEST_REDIS_URL; the
gunicorn test at the end answers from a real server with a real Celery backlog.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from orders.models import FulfillmentWorkflow
from scm import queues
from scm.outbound.models import Breaker, BreakerState
from tests.factories import OrderFactory
from tests.unit.test_metrics import moved, scrape, value
from tests.unit.test_runtime_figures import broker  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(1990, 1, 1, tzinfo=UTC)


@pytest.fixture
def stalled_order():
    order = OrderFactory()
    FulfillmentWorkflow.objects.filter(order=order).update(next_attempt_at=LONG_AGO)
    return order


def test_readyz_reports_the_figures_and_is_ok_when_fulfillment_flows(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["fulfillment"] == "ok"
    assert body["runtime"]["queues"] == "eager"
    assert set(body["runtime"]) == {"queues", "oldest_due_step", "open_breakers"}


def test_readyz_answers_503_naming_the_stalled_workflow_step(client, settings, stalled_order):
    settings.READINESS_MAX_DUE_STEP_AGE_SECONDS = 300
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["fulfillment"].startswith(
        f"the oldest due workflow step (order {stalled_order.pk}, reserve) has waited "
    )
    assert body["checks"]["fulfillment"].endswith(" s for a worker (more than 300)")
    assert body["checks"]["database"] == "ok"
    due = body["runtime"]["oldest_due_step"]
    assert (due["order_id"], due["step"], due["due_since"]) == (stalled_order.pk, "reserve", LONG_AGO.isoformat())
    assert due["age_seconds"] >= (timezone.now() - LONG_AGO).total_seconds() - 60


def test_readyz_recovers_once_a_worker_took_the_step(client, settings, stalled_order):
    settings.READINESS_MAX_DUE_STEP_AGE_SECONDS = 300
    assert client.get("/readyz").status_code == 503
    # A worker's lease: the step is in hand, not waiting (other tests' leftovers are younger).
    FulfillmentWorkflow.objects.filter(order=stalled_order).update(lease_until=timezone.now() + timedelta(minutes=2))
    body = client.get("/readyz").json()
    assert (body["runtime"]["oldest_due_step"] or {}).get("order_id") != stalled_order.pk
    assert f"order {stalled_order.pk}," not in body["checks"]["fulfillment"]


@pytest.mark.redis
def test_readyz_answers_503_naming_a_workflow_queue_beyond_its_threshold(client, settings, broker):  # noqa: F811
    url, redis_client = broker
    settings.REDIS_URL = url
    settings.READINESS_MAX_WORKFLOW_QUEUE_DEPTH = 2
    redis_client.lpush(queues.WORKFLOW, "m1", "m2")
    redis_client.lpush(queues.WEBHOOKS, *[f"w{n}" for n in range(50)])
    response = client.get("/readyz")
    assert response.status_code == 200, "at the threshold, and the webhook backlog is not fulfillment's"
    assert response.json()["runtime"]["queues"] == {
        "workflow": 2,
        "events": 0,
        "webhooks": 50,
        "partners": 0,
        "maintenance": 0,
    }
    redis_client.lpush(queues.WORKFLOW, "m3")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "broker": "ok",
        "subscriptions": "ok",
        "fulfillment": "the workflow queue holds 3 messages (more than 2)",
    }


def test_readyz_names_the_broker_and_leaves_queues_unknown_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    body = client.get("/readyz").json()
    assert body["checks"]["broker"].startswith("ConnectionError")
    assert body["checks"]["fulfillment"] == "ok"
    assert body["runtime"]["queues"] == "unavailable: the broker does not answer"


def test_an_open_breaker_is_reported_but_does_not_fail_readiness(client, unique):
    failed_at = timezone.now() - timedelta(seconds=30)
    Breaker.objects.create(
        name=f"webhook:{unique}",
        state=BreakerState.OPEN,
        opened_until=failed_at + timedelta(seconds=60),
        last_failure_at=failed_at,
        last_error="ReadTimeout: hanging receiver",
        consecutive_failures=5,
    )
    response = client.get("/readyz")
    assert response.status_code == 200
    mine = [b for b in response.json()["runtime"]["open_breakers"] if b["name"] == f"webhook:{unique}"]
    assert mine == [
        {
            "name": f"webhook:{unique}",
            "kind": "webhook",
            "state": "open",
            "since": failed_at.isoformat(),
            "until": (failed_at + timedelta(seconds=60)).isoformat(),
            "last_error": "ReadTimeout: hanging receiver",
        }
    ]


# --- the same figures in /metrics -------------------------------------------------------------


def test_metrics_report_the_oldest_due_step_age(client, stalled_order):
    before = (timezone.now() - LONG_AGO).total_seconds()
    age = value(scrape(client), "scm_workflow_oldest_due_step_age_seconds")
    after = (timezone.now() - LONG_AGO).total_seconds()
    assert before <= age <= after


def test_metrics_have_no_queue_series_without_a_broker(client):
    assert not [name for name, _ in scrape(client) if name == "scm_celery_queue_depth"]


@pytest.mark.redis
def test_metrics_report_queue_depth_per_queue(client, settings, broker):  # noqa: F811
    url, redis_client = broker
    settings.REDIS_URL = url
    redis_client.lpush(queues.WORKFLOW, "a", "b", "c")
    redis_client.lpush(f"{queues.EVENTS}\x06\x163", "e")
    samples = scrape(client)
    assert {queue: value(samples, "scm_celery_queue_depth", queue=queue) for queue in queues.ALL} == {
        "workflow": 3,
        "events": 1,
        "webhooks": 0,
        "partners": 0,
        "maintenance": 0,
    }


def test_metrics_count_open_breakers_by_kind(client, unique):
    before = scrape(client)
    Breaker.objects.create(
        name=f"carrier-feed:{unique}", state=BreakerState.OPEN, opened_until=timezone.now() + timedelta(seconds=9)
    )
    after = scrape(client)
    assert moved(before, after, "scm_outbound_breakers", kind="carrier-feed", state="open") == 1
