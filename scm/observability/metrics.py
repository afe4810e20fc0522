"""Prometheus metrics: the names domain code increments, and the registry `/metrics` serves.

Domain code imports this module and moves a counter where the fact becomes true, preferably once
the transaction committed, so a rolled-back write is not counted:

    from scm.observability import metrics
    metrics.inc_on_commit(metrics.orders_created)
    metrics.inc_on_commit(metrics.inbound_messages, status="APPLIED")

Labels are kept to small, fixed sets (route, method, status class, task name, message status,
subscriber): a SKU or an order id as a label would grow the series without bound.

Multi-process: gunicorn and Celery's prefork pool run several processes, each with its own
counters. When `PROMETHEUS_MULTIPROC_DIR` is set (it must be set before prometheus_client is
imported, see `gunicorn_conf.py`), every process writes its values to files in that directory and
`scrape_registry()` sums them with a MultiProcessCollector. Without it, the process's own default
registry is served, which is right for runserver, tests and a single worker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

# --- The metrics ------------------------------------------------------------------------------

request_latency = Histogram(
    "scm_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern (not raw path), method and status class.",
    ["route", "method", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
orders_created = Counter("scm_orders_created", "Sales orders created.")
db_conflict_retries = Counter(
    "scm_db_conflict_retries",
    "Services the database aborted for a deadlock or serialization failure: retried, or given up (answered 503).",
    ["kind", "outcome"],
)
reservations_failed = Counter("scm_reservations_failed", "Reservation attempts refused for lack of available stock.")
inbound_messages = Counter(
    "scm_inbound_messages",
    "Inbound supplier messages by the final status processing left them in (APPLIED, QUARANTINED, DUPLICATE).",
    ["status"],
)
messages_quarantined = Counter(
    "scm_inbound_messages_quarantined",
    "Times an inbound message was put into quarantine (on first processing or on reprocessing).",
)
task_retries = Counter("scm_celery_task_retries", "Celery task retries, by task name.", ["task"])
task_failures = Counter(
    "scm_celery_task_failures", "Celery task runs that ended in an exception, by task name.", ["task"]
)
webhook_dead_letters = Counter(
    "scm_webhook_dead_letters", "Webhook deliveries that gave up after their last retry (dead-lettered)."
)
outbound_calls_refused = Counter(
    "scm_outbound_calls_refused",
    "Calls to partners not made: reason circuit_open (breaker open) or address (refused by the address policy).",
    ["kind", "reason"],
)
breakers_opened = Counter(
    "scm_outbound_breakers_opened", "Times a partner's circuit breaker opened after repeated failures.", ["kind"]
)

SUBSCRIPTION_LAG = "scm_subscription_lag_events"
BREAKERS_NOT_CLOSED = "scm_outbound_breakers"
QUEUE_DEPTH = "scm_celery_queue_depth"
OLDEST_DUE_STEP_AGE = "scm_workflow_oldest_due_step_age_seconds"


def inc_on_commit(metric: MetricWrapperBase, amount: float = 1, **labels: str) -> None:
    """Increment once the current transaction commits (at once outside a transaction).

    A counter moved inside a transaction that later rolls back would count something that never
    happened; this is the default way domain services count.
    """
    from django.db import transaction

    target = metric.labels(**labels) if labels else metric
    transaction.on_commit(partial(target.inc, amount))


def status_class(status_code: int) -> str:
    """200 -> "2xx": the label stays at five values whatever codes views invent."""
    return f"{status_code // 100}xx"


def observe_request(*, route: str, method: str, status_code: int, seconds: float) -> None:
    request_latency.labels(route=route, method=method, status_class=status_class(status_code)).observe(seconds)


# --- Scrape-time collectors -------------------------------------------------------------------


class SubscriptionLagCollector(Collector):
    """Events each registered subscriber still has to read, computed when Prometheus scrapes.

    A gauge kept up to date by the subscription processor would be stale in every process except
    the one that last ran it; counting at scrape time is always current and costs one small query
    per subscriber.
    """

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registering must not touch the database, so describe without samples.
        yield GaugeMetricFamily(SUBSCRIPTION_LAG, self._help(), labels=["subscriber"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError

        from scm.events import subscriptions

        gauge = GaugeMetricFamily(SUBSCRIPTION_LAG, self._help(), labels=["subscriber"])
        try:
            for subscriber in subscriptions.registered():
                gauge.add_metric([subscriber.name], subscriptions.lag(subscriber.name))
        except DatabaseError as exc:
            # The rest of the scrape stays useful; /readyz reports the database itself.
            log.warning("metrics.subscription_lag_unavailable", error=repr(exc))
            return
        yield gauge

    @staticmethod
    def _help() -> str:
        return "Events after the subscriber's checkpoint that it has not processed yet."


class BreakerCollector(Collector):
    """Partners whose circuit is open or half open, by partner kind and state, read at scrape time
    from the breaker rows (the state is shared through the database, not held by any process)."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(BREAKERS_NOT_CLOSED, self._help(), labels=["kind", "state"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError

        from scm.outbound.selectors import breaker_counts

        gauge = GaugeMetricFamily(BREAKERS_NOT_CLOSED, self._help(), labels=["kind", "state"])
        try:
            counts = breaker_counts()
        except DatabaseError as exc:
            log.warning("metrics.breakers_unavailable", error=repr(exc))
            return
        for (kind, state), count in sorted(counts.items()):
            gauge.add_metric([kind, state], count)
        yield gauge

    @staticmethod
    def _help() -> str:
        return "Partner circuit breakers that are not closed (state open or half_open), by partner kind."


class RuntimeCollector(Collector):
    """Queue depth per Celery queue and the age of the oldest due workflow step, read at scrape
    time through scm.observability.runtime, the same figures /readyz decides on."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._queue_gauge()
        yield self._due_gauge()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError
        from redis.exceptions import RedisError

        from scm.observability import runtime

        try:
            depths = runtime.queue_depths()
        except RedisError as exc:
            log.warning("metrics.queue_depth_unavailable", error=repr(exc))
            depths = runtime.EAGER
        if isinstance(depths, dict):  # eager (no broker): no queues, so no series rather than zeros
            gauge = self._queue_gauge()
            for queue, depth in depths.items():
                gauge.add_metric([queue], depth)
            yield gauge
        try:
            due = runtime.oldest_due_step()
        except DatabaseError as exc:
            log.warning("metrics.due_step_unavailable", error=repr(exc))
            return
        gauge = self._due_gauge()
        gauge.add_metric([], max(0.0, due.age_seconds) if due else 0.0)
        yield gauge

    @staticmethod
    def _queue_gauge() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            QUEUE_DEPTH, "Messages waiting in each Celery queue (Redis lists; taken but unacknowledged not counted).",
            labels=["queue"],
        )  # fmt: skip

    @staticmethod
    def _due_gauge() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            OLDEST_DUE_STEP_AGE, "Seconds the oldest due, unleased fulfillment workflow step has waited (0: none)."
        )


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


_lag_collector = SubscriptionLagCollector()
_breaker_collector = BreakerCollector()
_runtime_collector = RuntimeCollector()
if not multiprocess_dir():
    # Single-process mode serves the default registry; prometheus-client decides the mode at
    # import time from the same variable, so deciding here once matches it.
    REGISTRY.register(_lag_collector)
    REGISTRY.register(_breaker_collector)
    REGISTRY.register(_runtime_collector)

# Other database-backed scrape-time collectors (e.g. scm.bus's relay state), added by their apps.
_scrape_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    """Serve `collector` from /metrics too (computed at scrape time, like the lag gauge). Idempotent."""
    if collector in _scrape_collectors:
        return
    _scrape_collectors.append(collector)
    if not multiprocess_dir():
        REGISTRY.register(collector)


def scrape_registry(*, include_lag: bool = True) -> CollectorRegistry:
    """The registry to expose: every process's values in multi-process mode, else this process's.

    include_lag=False (the Celery worker's endpoint) leaves the scrape-time gauges (lag, breakers, runtime) out; it
    only applies in multi-process mode, where the worker endpoint is allowed at all.
    """
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        if include_lag:
            registry.register(_lag_collector)
            registry.register(_breaker_collector)
            registry.register(_runtime_collector)
            for collector in _scrape_collectors:
                registry.register(collector)
        return registry
    return REGISTRY


_DB_FILE = re.compile(r"_(\d+)\.db$")


def prepare_multiprocess_dir(path: str | None = None) -> None:
    """Create the directory and remove value files left by processes of an earlier run.

    prometheus-client requires a clean directory per run, or counters of a previous run would be
    added to this one's. Files of the calling process are kept: it may already have opened them.
    """
    directory = Path(path or multiprocess_dir())
    directory.mkdir(parents=True, exist_ok=True)
    own = str(os.getpid())
    for file in directory.glob("*.db"):
        match = _DB_FILE.search(file.name)
        if match and match.group(1) != own:
            file.unlink(missing_ok=True)


def mark_process_dead(pid: int) -> None:
    """Tell prometheus-client a process exited, so its live gauges stop being reported."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
