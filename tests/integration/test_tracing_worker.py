"""Tracing across real processes: a task published here goes through Redis to a real
`celery -A scm worker`, which exports its spans over OTLP/HTTP (configured only by the
environment) to a collector on loopback. The worker's spans continue the publisher's trace."""

from __future__ import annotations

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery import Celery
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from inventory import services as inventory
from orders import services as orders
from orders import workflow
from orders.models import FulfillmentWorkflow, WorkflowStep
from scm import queues
from scm.events import store
from scm.observability import tracing
from shipments import services as shipments
from tests.bus import database_url, poll
from tests.factories import ItemFactory, LocationFactory
from tests.integration.test_tracing import LoopbackTms
from tests.integration.test_workflow_worker_crash import start_worker, stop

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(180)]


class OtlpCollector:
    """Accepts OTLP/HTTP protobuf exports and keeps every span with its service name."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, object]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
                for resource_spans in request.resource_spans:
                    service = next(
                        a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
                    )
                    for scope_spans in resource_spans.scope_spans:
                        collector.spans.extend((service, span) for span in scope_spans.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def named(self, name: str):
        return [span for _, span in self.spans if span.name == name]

    def close(self) -> None:
        self.server.shutdown()


def test_a_real_worker_continues_the_publishers_trace_and_exports_it_over_otlp(committed_db, unique, tmp_path):
    redis_url = os.environ["TEST_REDIS_URL"]
    carrier = shipments.carrier_upsert(code=f"TW{unique}", name="Trace worker carrier").code
    sku, warehouse = ItemFactory(sku=f"TW-{unique}").sku, LocationFactory(code=f"TW-{unique}").code
    inventory.stock_receive(sku=sku, location=warehouse, qty=10)
    orders.customer_upsert(code=f"TW-{unique}", name="Trace worker customer")
    order, _ = orders.order_create(
        customer=f"TW-{unique}", external_id="SO-TW", lines=[{"sku": sku, "qty": 3}], start_workflow=False
    )
    assert workflow.due_workflows()  # the reserve step waits for a worker
    collector, tms = OtlpCollector(), LoopbackTms(carrier)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url,
        "SECRET_KEY": "trace-worker-test",
        "TMS_BASE_URL": tms.url,
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",  # the TMS stand-in is on loopback
        "TMS_MAX_ATTEMPTS": "1",
        "ORDER_WORKFLOW_AUTORUN": "0",
        "EVENT_DISPATCH_ON_COMMIT": "0",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    exporter = InMemorySpanExporter()
    tracing.configure(component="test", processor=SimpleSpanProcessor(exporter), instrument=("celery",))
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        client = Celery("trace-test-client", broker=redis_url, set_as_current=False)
        client.conf.task_routes = queues.task_routes()  # a bare client would send to "celery"
        with tracing.span("test.publisher") as root:
            client.send_task("orders.tasks.run_fulfillment_step", args=[order.pk])
        poll(
            lambda: FulfillmentWorkflow.objects.get(order=order).step == WorkflowStep.AWAIT_DEPARTURE,
            seconds=90,
            what="the worker to reserve and plan",
        )
        poll(lambda: collector.named("workflow.plan_shipment"), seconds=30, what="the worker's spans over OTLP")
    finally:
        stop(worker)
        tracing.shutdown()
        collector.close()
        tms.close()

    trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
    publish = next(
        s for s in exporter.get_finished_spans() if s.name == "apply_async/orders.tasks.run_fulfillment_step"
    )
    [run] = [s for s in collector.named("run/orders.tasks.run_fulfillment_step") if s.trace_id == trace_id]
    assert run.parent_span_id == publish.context.span_id.to_bytes(8, "big")  # through Redis, in the headers
    ours = [(service, span) for service, span in collector.spans if span.trace_id == trace_id]
    assert {service for service, _ in ours} == {"scm-worker"}
    names = {span.name for _, span in ours}
    assert {"workflow.reserve", "workflow.plan_shipment"} <= names
    assert any(
        a.key in ("db.system", "db.system.name") and a.value.string_value == "postgresql"
        for _, s in ours
        for a in s.attributes
    )
    assert "POST" in names  # the TMS call
    hex_id = trace_id.hex()
    assert [e.metadata.get("trace_id") for e in store.read_stream(order.stream)] == [None, hex_id]
    assert tms.headers[-1]["traceparent"].split("-")[1] == hex_id
