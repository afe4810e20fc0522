"""A real Celery worker on Redis dies in the middle of the plan-shipment step (its TMS call is in
flight). The sweeper, run by beat in a second worker, resumes the step once the lease expires, and
nothing is applied twice: one shipment, one plan, reservations unchanged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from inventory import services as inventory
from inventory.models import Balance
from orders import services as orders
from orders import workflow
from orders.models import FulfillmentWorkflow, WorkflowStep
from scm import queues
from scm.events import store
from shipments.models import Shipment
from tests.factories import ItemFactory, LocationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


class BlockingTms:
    """A TMS on loopback whose first booking hangs until released; later ones answer at once."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.first_call = threading.Event()
        self.release = threading.Event()
        tms = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                tms.requests.append((self.headers.get("Idempotency-Key", ""), body))
                if len(tms.requests) == 1:
                    tms.first_call.set()
                    tms.release.wait(timeout=120)
                answer = json.dumps({"carrier": "CRASHX", "tracking_number": f"CR-{body['plan_key']}"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the worker that asked is dead

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


def poll(condition, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def start_worker(env: dict, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "scm",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)


def test_killed_worker_mid_step_is_resumed_by_the_sweeper_without_applying_twice(committed_db, unique, tmp_path):
    redis_url = os.environ["TEST_REDIS_URL"]
    tms = BlockingTms()
    sku = ItemFactory(sku=f"KW-{unique}").sku
    warehouse = LocationFactory(code=f"KW-{unique}").code
    inventory.stock_receive(sku=sku, location=warehouse, qty=10)
    orders.customer_upsert(code=f"KW-{unique}", name="Crash customer")
    order, _ = orders.order_create(
        customer=f"KW-{unique}", external_id="SO-KW", lines=[{"sku": sku, "qty": 10}], start_workflow=False
    )
    assert workflow.run_step(order.pk).outcome == "done"  # reserved; plan_shipment is due

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "crash-test",
        "TMS_BASE_URL": tms.url,
        "TMS_MAX_ATTEMPTS": "1",
        "TMS_ATTEMPT_TIMEOUT_SECONDS": "120",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "ORDER_WORKFLOW_LEASE_SECONDS": "3",
        "ORDER_WORKFLOW_AUTORUN": "0",
        "EVENT_DISPATCH_ON_COMMIT": "0",
        "WORKFLOW_SWEEP_SECONDS": "1",
    }
    client = Celery("crash-test-client", broker=redis_url, set_as_current=False)
    client.conf.task_routes = queues.task_routes()  # a bare client would send to "celery"
    first = start_worker(env, tmp_path / "worker1.log")
    second = None
    try:
        client.send_task("orders.tasks.run_fulfillment_step", args=[order.pk])
        assert tms.first_call.wait(timeout=60), (tmp_path / "worker1.log").read_text()[-3000:]

        stop(first, signal.SIGKILL)  # dies while its TMS call is in flight
        state = FulfillmentWorkflow.objects.get(order=order)
        assert (state.step, state.attempts) == (WorkflowStep.PLAN_SHIPMENT, 1)
        assert state.lease_until is not None
        assert not Shipment.objects.filter(order_ref=f"order-{order.pk}").exists()
        tms.release.set()

        second = start_worker(env, tmp_path / "worker2.log", "--beat", f"--schedule={tmp_path / 'beat-schedule'}")
        poll(
            lambda: FulfillmentWorkflow.objects.get(order=order).step == WorkflowStep.AWAIT_DEPARTURE,
            seconds=90,
            what="the sweeper to resume the plan step",
        )
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)
        tms.close()

    shipments = Shipment.objects.filter(order_ref=f"order-{order.pk}")
    assert shipments.count() == 1
    # The shared test database may hold other tests' due workflows, which the sweeper also runs.
    ours = [key for key, body in tms.requests if body["reference"] == f"order-{order.pk}"]
    assert len(ours) == 2
    assert ours[0] == ours[1] != ""  # the same Idempotency-Key both times
    assert Balance.objects.get(item__sku=sku, location__code=warehouse).reserved == 10
    assert [e.type for e in store.read_stream(order.stream)] == ["OrderCreated", "OrderReserved"]
    assert [e.type for e in store.read_stream(f"shipment-{shipments.get().pk}")] == ["ShipmentPlanned"]
    assert FulfillmentWorkflow.objects.get(order=order).attempts == 0
