"""Orders' scrape-time metrics: fulfillment workflows waiting for missing configuration.

Counted from the database when Prometheus scrapes (like the subscription lag), so every process
serving /metrics reports the same current figure. The reason label is one of a few fixed names
(the `waits_for` of the configuration errors), never an order id.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

WAITING = "scm_fulfillment_workflows_waiting"
WAITING_HELP = "Fulfillment workflows waiting for missing configuration (e.g. no carrier configured), by reason."


class WaitingWorkflowsCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(WAITING, WAITING_HELP, labels=["reason"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django.db import DatabaseError

        from orders.selectors import waiting_counts
        from orders.workflow_errors import WAIT_REASONS

        gauge = GaugeMetricFamily(WAITING, WAITING_HELP, labels=["reason"])
        try:
            counts = waiting_counts()
        except DatabaseError as exc:
            log.warning("metrics.waiting_workflows_unavailable", error=repr(exc))
            return
        for reason, count in sorted({**dict.fromkeys(WAIT_REASONS, 0), **counts}.items()):
            gauge.add_metric([reason], count)
        yield gauge


_collector = WaitingWorkflowsCollector()


def register() -> None:
    """Add the collector to what /metrics serves (once per process)."""
    from scm.observability import metrics

    metrics.register_scrape_collector(_collector)
