"""Trace context beyond the request: into webhook deliveries (from the event's metadata), and
nothing at all when no OTLP endpoint is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from werkzeug import Response

from scm.events import store, subscriptions
from scm.events.store import NewEvent
from scm.observability import tracing
from scm.webhooks import services
from tests.bus import ROOT

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def endpoint(committed_db, httpserver):
    received = []

    def handler(request):
        received.append(request)
        return Response("ok", status=200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    created = services.webhook_endpoint_create(url=httpserver.url_for("/hook"), secret="whsec-trace-0123456789")
    yield created, received
    services.webhook_endpoint_delete(endpoint_id=created.pk)


def deliver(endpoint_id: int) -> None:
    [webhooks] = [s for s in subscriptions.registered() if s.name == "webhooks"]
    while subscriptions.process(webhooks).handled:
        pass
    services.webhook_deliveries_send_due(now=timezone.now() + timedelta(minutes=1), endpoint_id=endpoint_id)


def test_a_webhook_delivery_sends_the_events_traceparent(endpoint, unique):
    hook, received = endpoint
    store.append(f"wh-{unique}", [NewEvent("TestEventRecorded", {"n": 1}, metadata={"traceparent": TRACEPARENT})])
    deliver(hook.pk)
    assert [request.headers["traceparent"] for request in received] == [TRACEPARENT]


def test_without_a_traceparent_the_delivery_sends_none(endpoint, unique):
    hook, received = endpoint
    store.append(f"wh-{unique}", [NewEvent("TestEventRecorded", {"n": 1})])
    deliver(hook.pk)
    assert len(received) == 1 and "traceparent" not in received[0].headers


def test_with_tracing_on_the_delivery_is_a_child_of_the_span_that_appended_the_event(endpoint, unique):
    hook, received = endpoint
    exporter = InMemorySpanExporter()
    tracing.configure(component="test", processor=SimpleSpanProcessor(exporter), instrument=("requests",))
    try:
        with tracing.span("append"):
            event = store.append(f"wh-{unique}", [NewEvent("TestEventRecorded", {"n": 1})])[0]
        deliver(hook.pk)
    finally:
        tracing.shutdown()
    appended = next(s for s in exporter.get_finished_spans() if s.name == "append")
    call = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT)
    stored = event.metadata["traceparent"].split("-")
    assert (stored[1], stored[2]) == (f"{appended.context.trace_id:032x}", f"{appended.context.span_id:016x}")
    assert call.context.trace_id == appended.context.trace_id
    assert call.parent.span_id == appended.context.span_id
    sent = received[0].headers["traceparent"].split("-")
    assert (sent[1], sent[2]) == (f"{call.context.trace_id:032x}", f"{call.context.span_id:016x}")


PROBE = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")
import scm.wsgi  # the web's entry point, where tracing is switched on when configured
import psycopg2
from django.conf import settings
from scm.events.context import current_metadata
from scm.observability import tracing
with tracing.span("probe"):
    metadata = current_metadata()
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.instrumentation"))),
    "first_middleware": settings.MIDDLEWARE[0],
    "connect_wrapped": hasattr(psycopg2.connect, "__wrapped__"),
    "metadata_keys": sorted(metadata),
}))
"""


def probe(**env: str) -> dict:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, "SECRET_KEY": "probe", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_without_an_otlp_endpoint_nothing_is_imported_or_installed():
    off = probe()
    assert off == {
        "modules": [],
        "first_middleware": "scm.observability.middleware.RequestContextMiddleware",
        "connect_wrapped": False,
        "metadata_keys": [],
    }
    # The same probe with an endpoint (nothing listens there; no span is exported before exit).
    on = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_BSP_SCHEDULE_DELAY="60000")
    assert "opentelemetry.instrumentation.django" in on["modules"]
    assert "opentelemetry.instrumentation.psycopg2" in on["modules"]
    assert on["first_middleware"].startswith("opentelemetry.instrumentation.django")
    assert on["connect_wrapped"] is True
    assert on["metadata_keys"] == ["trace_id", "traceparent"]
    assert probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true")["modules"] == []
    connection.close()
