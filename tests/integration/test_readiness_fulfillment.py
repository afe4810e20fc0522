"""/readyz and /metrics tell the truth about fulfillment: queue depths, the oldest due workflow step
and open breakers, and a 503 naming why when fulfillment is stalled.

In-process (Django test client) against PostgreSQL and the Redis db of TEST_REDIS_URL; the
gunicorn test at the end answers from a real server with a real Celery backlog.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.utils import timezone

from orders.models import FulfillmentWorkflow
from scm import queues
from scm.outbound.models import Breaker, BreakerState
from tests.factories import OrderFactory
from tests.unit.test_metrics import moved, scrape, value
from tests.unit.test_runtime_figures import broker  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

LONG_AGO = datetime(1990, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


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
    assert set(body["runtime"]) == {"queues", "oldest_due_step", "open_breakers", "waiting_for_configuration"}


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


def test_a_workflow_waiting_for_configuration_is_reported_not_counted_as_stalled(client, settings, stalled_order):
    settings.READINESS_MAX_DUE_STEP_AGE_SECONDS = 300
    FulfillmentWorkflow.objects.filter(order=stalled_order).update(
        step="plan_shipment", waiting_for="no carrier configured", waiting_since=LONG_AGO
    )
    body = client.get("/readyz").json()
    assert (body["runtime"]["oldest_due_step"] or {}).get("order_id") != stalled_order.pk
    assert f"order {stalled_order.pk}," not in body["checks"]["fulfillment"]
    waiting = body["runtime"]["waiting_for_configuration"]
    assert waiting["reasons"]["no carrier configured"] >= 1
    assert waiting["oldest_since"] == LONG_AGO.isoformat()


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


# --- a real server, a real backlog ------------------------------------------------------------


@pytest.fixture
def gunicorn_on_test_database(tmp_path, broker):  # noqa: F811
    """gunicorn (one worker, multi-process metrics) on this session's PostgreSQL test database and the
    Redis db of TEST_REDIS_URL, failing readiness beyond 5 waiting workflow messages."""
    from django.db import connection

    from tests.integration.test_observability_gunicorn import free_port, get
    from tests.integration.test_workflow_worker_crash import poll

    url, redis_client = broker
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scm.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": url,
        "SECRET_KEY": "readiness-test",
        "DEBUG": "",
        "ALLOWED_HOSTS": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "READINESS_MAX_WORKFLOW_QUEUE_DEPTH": "5",
        # Other tests' committed workflows may be due in this shared database: the queue is the subject here.
        "READINESS_MAX_DUE_STEP_AGE_SECONDS": "-1",
        "READINESS_MAX_SUBSCRIPTION_LAG": "-1",
        "EVENT_DISPATCH_ON_COMMIT": "0",
        "ORDER_WORKFLOW_AUTORUN": "0",
    }
    port = free_port()
    log = tmp_path / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "-c", "scm/observability/gunicorn_conf.py",
        "--bind", f"127.0.0.1:{port}", "--no-control-socket", "scm.wsgi",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            return get(f"{base}/healthz")[0] == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    try:
        poll(up, seconds=90, what="gunicorn to answer")
        yield {"base": base, "env": env, "redis": redis_client, "broker": url}
    finally:
        stop(process)


def readyz(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_gunicorn_readyz_fails_on_a_real_workflow_backlog_and_recovers_when_a_worker_drains_it(
    gunicorn_on_test_database, tmp_path
):
    from tests.integration.test_observability_gunicorn import get
    from tests.integration.test_workflow_worker_crash import poll, start_worker

    server = gunicorn_on_test_database
    sender = Celery("readiness-backlog", broker=server["broker"], set_as_current=False)
    try:
        for _ in range(12):  # steps of an order that does not exist: a worker answers "busy" at once
            sender.send_task("orders.tasks.run_fulfillment_step", args=[-1], queue=queues.WORKFLOW)
    finally:
        sender.close()

    status, body = readyz(server["base"])
    assert status == 503
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["fulfillment"] == "the workflow queue holds 12 messages (more than 5)"
    assert body["runtime"]["queues"][queues.WORKFLOW] == 12
    metrics_text = get(f"{server['base']}/metrics")[1]
    assert 'scm_celery_queue_depth{queue="workflow"} 12.0' in metrics_text

    worker_log = tmp_path / "worker.log"
    worker = start_worker(server["env"], worker_log, "-Q", queues.WORKFLOW)
    try:
        status, body = poll(
            lambda: (result := readyz(server["base"]))[0] == 200 and result,
            seconds=120,
            what="the worker to drain the workflow queue",
        )
    finally:
        stop(worker)
    assert body["checks"]["fulfillment"] == "ok"
    assert body["runtime"]["queues"][queues.WORKFLOW] <= 5
    assert "run_fulfillment_step" in worker_log.read_text(errors="replace")
