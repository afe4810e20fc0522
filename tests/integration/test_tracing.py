"""OpenTelemetry: one POST /api/v1/orders/ yields one trace from the request through the worker's
reserve and plan steps to the TMS call, and the same trace id is on the order's events.

The worker here is Celery's in-process test worker on the in-memory broker, not eager mode: the
task is published with its message headers and run by the worker thread, which shares no context
with the request, so the trace can only continue through the `traceparent` the Celery
instrumentation put into those headers. The spans go to an in-memory exporter.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_trace_id

from inventory import services as inventory
from orders import services as orders
from orders.models import FulfillmentWorkflow, WorkflowStep
from scm.celery import app as celery_app
from scm.events import store
from scm.observability import tracing
from scm.roles import INTEGRATION
from shipments import services as shipments
from tests.api.helpers import client_for
from tests.bus import poll
from tests.factories import ItemFactory, LocationFactory


class LoopbackTms:
    """A TMS on loopback that books every shipment and remembers the headers it was sent."""

    def __init__(self, carrier: str) -> None:
        self.headers: list[dict[str, str]] = []
        tms = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                tms.headers.append(dict(self.headers))
                answer = json.dumps({"carrier": carrier, "tracking_number": f"TR-{body['plan_key']}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.configure(component="test", processor=SimpleSpanProcessor(exporter))
    connection.close()  # the next connection is opened through the instrumented psycopg2.connect
    yield exporter
    tracing.shutdown()
    connection.close()


@pytest.fixture
def worker(settings):
    """Celery's test worker in a thread, on the in-memory broker: tasks go through real messages."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    celery_app.conf.task_always_eager = False
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
            yield
    finally:
        celery_app.conf.task_always_eager = True


@pytest.mark.postgres
@pytest.mark.timeout(120)
def test_one_order_is_one_trace_from_request_to_worker_steps_to_tms(committed_db, settings, unique, spans, worker):
    carrier = shipments.carrier_upsert(code=f"TR{unique}", name="Trace carrier").code
    sku, warehouse = ItemFactory(sku=f"TR-{unique}").sku, LocationFactory(code=f"TR-{unique}").code
    inventory.receive(sku=sku, location=warehouse, qty=10)
    orders.customer_upsert(code=f"TR-{unique}", name="Trace customer")
    api = client_for(f"trace-{unique}", INTEGRATION)
    tms = LoopbackTms(carrier)
    settings.TMS_BASE_URL, settings.TMS_MAX_ATTEMPTS, settings.ORDER_WORKFLOW_AUTORUN = tms.url, 1, True
    spans.clear()
    try:
        response = api.post(
            "/api/v1/orders/",
            {"customer": f"TR-{unique}", "external_id": "SO-TRACE", "lines": [{"sku": sku, "qty": 4}]},
            format="json",
        )
        assert response.status_code == 201, response.content
        order_id = response.json()["id"]
        poll(
            lambda: FulfillmentWorkflow.objects.get(order_id=order_id).step == WorkflowStep.AWAIT_DEPARTURE,
            seconds=60,
            what="the worker to reserve and plan the order",
        )
    finally:
        tms.close()

    finished = spans.get_finished_spans()
    request = next(
        s for s in finished if s.kind == SpanKind.SERVER and s.attributes.get("http.route") == "api/v1/orders/"
    )
    trace_id = request.context.trace_id
    ours = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name for s in ours}
    publish = next(s for s in ours if s.name == "apply_async/orders.tasks.run_fulfillment_step")
    run = next(s for s in ours if s.name == "run/orders.tasks.run_fulfillment_step")
    reserve = next(s for s in ours if s.name == "workflow.reserve")
    plan = next(s for s in ours if s.name == "workflow.plan_shipment")
    tms_call = next(
        s
        for s in ours
        if s.kind == SpanKind.CLIENT
        and str(s.attributes.get("url.full", s.attributes.get("http.url", ""))).startswith(tms.url)
    )
    assert publish.parent.span_id != run.context.span_id
    assert run.parent.span_id == publish.context.span_id  # carried by the task message's headers
    assert run.attributes.get("celery.task_name") == "orders.tasks.run_fulfillment_step"
    assert reserve.parent.span_id == run.context.span_id and plan.parent.span_id == run.context.span_id
    assert tms_call.parent is not None and _descends(tms_call, plan, ours)
    db_spans = [
        s
        for s in ours
        if s.attributes.get("db.system") == "postgresql" or s.attributes.get("db.system.name") == "postgresql"
    ]
    assert any(_descends(s, request, ours) for s in db_spans), names  # the request's own SQL
    assert any(_descends(s, reserve, ours) for s in db_spans), names  # the worker's SQL
    assert reserve.attributes["scm.order_id"] == order_id

    hex_id = format_trace_id(trace_id)
    events = store.read_stream(f"order-{order_id}")
    assert [e.type for e in events] == ["OrderCreated", "OrderReserved"]
    assert {e.metadata["trace_id"] for e in events} == {hex_id}
    assert all(e.metadata["traceparent"].startswith(f"00-{hex_id}-") for e in events)
    assert events[0].metadata["correlation_id"]  # beside the correlation id, not instead of it
    assert tms.headers[-1]["traceparent"].split("-")[1] == hex_id  # the partner can join the trace


def _descends(span, ancestor, spans) -> bool:
    by_id = {s.context.span_id: s for s in spans}
    while span.parent is not None:
        if span.parent.span_id == ancestor.context.span_id:
            return True
        span = by_id.get(span.parent.span_id)
        if span is None:
            return False
    return False
