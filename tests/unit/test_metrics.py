"""`/metrics` exposes the project's metrics, and they move when the things they count happen.

Counters are process-wide and never reset, so each test reads a value before and after the
action and asserts the exact difference.
"""

from __future__ import annotations

import pytest
from celery.exceptions import Retry
from django.db import transaction
from prometheus_client.parser import text_string_to_metric_families

from scm.events import store, subscriptions
from scm.events.models import Subscription
from scm.observability import metrics
from tests.integration.test_observability import fail_task, retry_once

pytestmark = pytest.mark.django_db


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_metrics_endpoint_exposes_every_documented_name(client):
    client.get("/healthz")
    metrics.inbound_messages.labels(status="APPLIED")
    metrics.task_retries.labels(task="x")
    metrics.task_failures.labels(task="x")
    names = {name for name, _ in scrape(client)}
    assert {
        "scm_http_request_duration_seconds_count",
        "scm_http_request_duration_seconds_bucket",
        "scm_orders_created_total",
        "scm_reservations_failed_total",
        "scm_inbound_messages_total",
        "scm_inbound_messages_quarantined_total",
        "scm_celery_task_retries_total",
        "scm_celery_task_failures_total",
        "scm_webhook_dead_letters_total",
    } <= names


def test_metrics_endpoint_needs_no_login_and_refuses_writes(client):
    assert client.get("/metrics").status_code == 200
    assert client.post("/metrics").status_code == 405


def test_request_latency_is_counted_by_route_method_and_status_class(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/42")
    after = scrape(client)

    name = "scm_http_request_duration_seconds_count"
    assert moved(before, after, name, route="healthz", method="GET", status_class="2xx") == 2
    assert moved(before, after, name, route="<unmatched>", method="GET", status_class="4xx") == 1
    # The route pattern is the label, never the raw path.
    assert not any("no-such-page" in str(labels) for _, labels in after)
    le_inf = value(after, "scm_http_request_duration_seconds_bucket",
                   route="healthz", method="GET", status_class="2xx", le="+Inf")  # fmt: skip
    assert le_inf == value(after, "scm_http_request_duration_seconds_count",
                           route="healthz", method="GET", status_class="2xx")  # fmt: skip


def test_unknown_http_methods_share_one_label(client):
    before = scrape(client)
    client.generic("BREW", "/healthz")
    after = scrape(client)
    name = "scm_http_request_duration_seconds_count"
    assert moved(before, after, name, route="healthz", method="OTHER", status_class="2xx") == 1


def test_a_failing_task_counts_a_failure_for_its_name(client):
    before = scrape(client)
    with pytest.raises(RuntimeError, match="boom"):
        fail_task.delay("boom")
    after = scrape(client)
    assert moved(before, after, "scm_celery_task_failures_total", task="tests.observability.fail") == 1


def test_a_retried_task_counts_one_retry_and_no_failure(client):
    before = scrape(client)
    # Eagerly, Celery runs the retry at once, then re-raises Retry (task_eager_propagates).
    with pytest.raises(Retry):
        retry_once.delay()
    after = scrape(client)
    task = "tests.observability.retry_once"
    assert moved(before, after, "scm_celery_task_retries_total", task=task) == 1
    assert moved(before, after, "scm_celery_task_failures_total", task=task) == 0


def test_subscription_lag_gauge_follows_appends_and_processing(client, unique):
    name, stream = f"lag-{unique}", f"lag-{unique}"
    key = ("scm_subscription_lag_events", (("subscriber", name),))
    Subscription.objects.create(name=name, checkpoint=store.head_position())
    subscriptions.register(name, lambda event: None)
    try:
        assert scrape(client)[key] == 0
        store.append_one(stream, "TestEventRecorded", {"n": 1})
        store.append_one(stream, "TestEventRecorded", {"n": 2})
        assert scrape(client)[key] == 2

        subscriptions.process(subscriptions.Subscriber(name=name, handler=lambda event: None))
        assert scrape(client)[key] == 0
    finally:
        subscriptions.unregister(name)
    assert key not in scrape(client)


def test_inc_on_commit_counts_only_committed_work(client, django_capture_on_commit_callbacks):
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            metrics.inc_on_commit(metrics.orders_created)
            metrics.inc_on_commit(metrics.inbound_messages, status="QUARANTINED")
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            metrics.inc_on_commit(metrics.orders_created)
            _ = 1 / 0
    after = scrape(client)
    assert moved(before, after, "scm_orders_created_total") == 1
    assert moved(before, after, "scm_inbound_messages_total", status="QUARANTINED") == 1


def test_status_class_keeps_five_values():
    assert [metrics.status_class(code) for code in (100, 204, 302, 404, 503)] == ["1xx", "2xx", "3xx", "4xx", "5xx"]
