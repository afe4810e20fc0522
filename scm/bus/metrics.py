"""Relay metrics, read from the checkpoint row when Prometheus scrapes.

The relay is its own process; counters kept in its memory would be invisible to the web's
/metrics. Its checkpoint row already holds what matters, so any process that serves /metrics reports
it: lag (positions behind the head), events published and failed publish rounds.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = structlog.get_logger(__name__)

LAG = "scm_event_relay_lag_positions"
PUBLISHED = "scm_event_relay_published"
ERRORS = "scm_event_relay_publish_errors"


class RelayCollector(Collector):
    def describe(self) -> Iterator:
        yield from self._families()

    def collect(self) -> Iterator:
        from django.conf import settings
        from django.db import DatabaseError

        from scm.bus.selectors import relay_status

        if not settings.NATS_URL:
            return
        lag, published, errors = self._families()
        try:
            status = relay_status()
        except DatabaseError as exc:
            log.warning("metrics.event_relay_unavailable", error=repr(exc))
            return
        lag.add_metric([status.name], status.lag)
        published.add_metric([status.name], status.published_count)
        errors.add_metric([status.name], status.error_count)
        yield from (lag, published, errors)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily]:
        return (
            GaugeMetricFamily(LAG, "Log positions between the relay's checkpoint and the head.", labels=["relay"]),
            CounterMetricFamily(PUBLISHED, "Events the relay published and JetStream acknowledged.", labels=["relay"]),
            CounterMetricFamily(ERRORS, "Relay rounds that published nothing because of an error.", labels=["relay"]),
        )


_collector = RelayCollector()


def register() -> None:
    """Add the collector to what /metrics serves (once per process)."""
    from scm.observability import metrics

    metrics.register_scrape_collector(_collector)
