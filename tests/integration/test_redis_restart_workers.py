"""Bursts of orders through the running system while its workflow worker is killed and Redis fails.

The production shape from bench/flow_stack.py (gunicorn, one real Celery worker process per queue
group, beat) on the test database and a private redis-server (never the shared one: it is killed),
which is the broker, the cache behind the API throttle and the store of the periodic locks.

- Restart: mid-burst the workflow worker group is SIGKILLed with its pool and started again (steps
  in flight are lost with their leases held); later Redis is killed (no persistence: every queued
  task, kick marker and lock is gone), stays down for a few seconds while a third of the burst is
  posted, and comes back.
- Hang: mid-burst Redis is frozen (SIGSTOP: connections stay open and nothing answers, as when it
  stalls or the network drops packets) for longer than any request may take, then thawed.

Clients behave like careful integrations: an answer other than 201 is retried with the same
Idempotency-Key after its Retry-After. Asserted each time: every order reaches a planned shipment
within a bound, with nobody touching a worker after Redis returns (they reconnect by themselves and
the sweeper finds the steps whose tasks were lost); no answer was a 5xx other than a JSON 503 with a
retry hint; no order or shipment exists twice; /readyz names the broker during the outage and is
ready again after it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.db.models import Count

from bench.flow_stack import FlowStack, RedisServer
from orders.models import SalesOrder
from shipments.models import Shipment
from tests.integration.test_flow_burst_workers import default_carrier, planned, seed  # noqa: F401 - the fixture
from tests.integration.test_workflow_worker_crash import poll

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]

WARM_UP, AFTER, CLIENTS = 4, 4, 8
RESTART_ORDERS, REDIS_DOWN_SECONDS = 40, 3.0
HANG_ORDERS, REDIS_FROZEN_SECONDS = 16, 24.0
# What a request may wait for a hung Redis: the throttle's cache read times out after 1 s, and then
# this web worker leaves Redis alone for REDIS_PAUSE_SECONDS (scm/redis_pause.py); a request queued
# behind it in the same worker waits that second too. Without the pause every request waited out
# each socket timeout (cache 1+1 s, queueing ~6 s, kick 5 s) and the few workers served ~1 request in
# 13 s each; before the broker's socket timeouts, they waited out the whole freeze.
REQUEST_BUDGET_SECONDS = 8.0
# Time for a burst to be planned after Redis is back. A step whose task was lost runs when the
# sweeper (every WORKFLOW_SWEEP_SECONDS) finds it due; one whose worker was killed in the middle of it
# after ORDER_WORKFLOW_LEASE_SECONDS. A worker's reconnection waits 2, 4, 6 ... s between attempts.
SETTLE_SECONDS = 60.0
STACK_ENV = {
    "SECRET_KEY": "redis-restart-test",
    # The sweeper is what recovers lost tasks: every 2 s instead of 10 s, so the test is short.
    "WORKFLOW_SWEEP_SECONDS": "2",
    # A step whose worker was SIGKILLed keeps its lease until it lapses (production: 120 s, which must
    # outlast the longest step; here steps take milliseconds).
    "ORDER_WORKFLOW_LEASE_SECONDS": "8",
    # A periodic lock held by the killed worker lapses after this (production: 30 s).
    "PERIODIC_LOCK_LEASE_SECONDS": "6",
    # The throttle on, as in production, so its counters in the Redis cache are in every request's
    # path; the rate is high enough that a burst and its retries are never throttled.
    "API_THROTTLE_INTEGRATION": "100000/min",
    # After a Redis failure a process skips its optional Redis calls this long (production: 5 s).
    "REDIS_PAUSE_SECONDS": "2",
}


@dataclass
class Flow:
    stack: FlowStack
    redis: RedisServer
    data: dict
    log_dir: Path


@dataclass
class Answers:
    """Every answer the API gave during a burst, and the ones that broke the contract."""

    statuses: Counter = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    accepted: int = 0
    during_outage: Counter = field(default_factory=Counter)
    slowest_during_outage: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: requests.Response | None, error: str, *, outage: bool, seconds: float) -> None:
        status = response.status_code if response is not None else "no answer"
        with self.lock:
            self.statuses[status] += 1
            if outage:
                self.during_outage[status] += 1
                self.slowest_during_outage = max(self.slowest_during_outage, seconds)
            if response is not None and response.status_code in (200, 201):
                self.accepted += 1
            elif not _clean_retry_hint(response):
                body = response.text[:300] if response is not None else error
                self.bad.append(f"{status}: {body}")


def _clean_retry_hint(response: requests.Response | None) -> bool:
    """A 503 in the API's JSON error shape that says when to come back."""
    if response is None or response.status_code != 503:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return "error" in body and response.headers.get("Retry-After", "").isdigit()


Step = tuple[int, Callable[[Callable[[], None]], None]]  # (orders accepted, action(begun))


class Faults:
    """Runs each fault when the burst has that many orders accepted; orders from that number on are
    posted only once the fault has begun (the action calls `begun`), so every fault lands mid-burst
    whatever the machine's speed. `outage` is set while Redis does not answer."""

    def __init__(self, answers: Answers, steps: list[Step]) -> None:
        self.answers, self.steps = answers, steps
        self.begun = [threading.Event() for _ in steps]
        self.outage, self.finished = threading.Event(), threading.Event()
        self.readiness_during: dict = {}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        for (at, action), begun in zip(self.steps, self.begun, strict=True):
            poll(lambda at=at: self.answers.accepted >= at, seconds=120, what=f"{at} orders accepted")
            action(begun.set)
        self.finished.set()

    def gate(self, n: int) -> threading.Event | None:
        gates = [begun for (at, _), begun in zip(self.steps, self.begun, strict=True) if n >= at]
        return gates[-1] if gates else None


def readiness(stack: FlowStack) -> dict:
    response = requests.get(f"{stack.base_url}/readyz", timeout=30)
    return {"status": response.status_code, "body": response.json()}


def post_burst(flow: Flow, answers: Answers, faults: Faults | None, count: int, label: str) -> list[str]:
    """Post `count` orders from CLIENTS clients, each retried with its Idempotency-Key until accepted."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {flow.data['token']}"
    skus = flow.data["skus"]

    def post(n: int) -> str:
        gate = faults.gate(n) if faults else None
        if gate is not None:
            gate.wait(120)  # a worker restart on a loaded machine
        external_id = f"{flow.data['unique']}-{label}-{n}"
        body = {
            "customer": flow.data["customer"],
            "external_id": external_id,
            "lines": [{"sku": skus[(n + k) % len(skus)], "qty": k + 1} for k in range(3)],
        }
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            outage, started = bool(faults) and faults.outage.is_set(), time.monotonic()
            response, error = None, ""
            try:
                response = session.post(f"{flow.stack.base_url}/api/v1/orders/", json=body, timeout=45,
                                        headers={"Idempotency-Key": external_id})  # fmt: skip
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            answers.record(response, error, outage=outage, seconds=time.monotonic() - started)
            if response is not None and response.status_code in (200, 201):
                return f"order-{response.json()['id']}"
            time.sleep(min(1.0, float(response.headers.get("Retry-After", 1)) if response is not None else 1.0))
        raise AssertionError(f"order {external_id} was never accepted")

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, range(count)))


def burst_with_faults(flow: Flow, answers: Answers, faults: Faults, count: int) -> tuple[list[str], float]:
    """The burst with its faults; then every order planned, and new orders queued at once again
    (the web's broker connection is back, so they do not wait for the sweeper). Returns the order
    refs and the seconds from Redis answering again until all were planned."""
    faults.thread.start()
    refs = post_burst(flow, answers, faults, count, "burst")
    faults.thread.join(60)
    assert faults.finished.is_set(), "the faults did not all run"
    back = time.monotonic()
    poll(lambda: planned(refs) == count, seconds=SETTLE_SECONDS,
         what=f"every order to be planned after Redis came back ({flow.log_dir})")  # fmt: skip
    settled = time.monotonic() - back

    time.sleep(float(STACK_ENV["REDIS_PAUSE_SECONDS"]))  # the web workers' pause after the last failure is over
    web_log = flow.stack.log("web")
    size = web_log.stat().st_size
    after = post_burst(flow, answers, None, AFTER, "after")
    poll(lambda: planned(after) == AFTER, seconds=30, what="the orders after the outage to be planned")
    assert "queueing orders.tasks.run_fulfillment_step" not in web_log.read_bytes()[size:].decode(errors="replace")
    print(f"answers {dict(answers.statuses)}; during the outage {dict(answers.during_outage)}, slowest "
          f"{answers.slowest_during_outage:.1f} s; all planned {settled:.1f} s after Redis came back")  # fmt: skip
    return refs, settled


def assert_outage_handled(flow: Flow, answers: Answers, faults: Faults, count: int, refs: list[str]) -> None:
    assert not answers.bad, f"answers that were neither accepted nor a JSON 503 with Retry-After: {answers.bad[:5]}"
    assert sum(answers.during_outage.values()) > 0, "no order was posted while Redis was away"
    processes = {name: process.poll() for name, process in flow.stack.processes.items()}
    assert processes == {name: None for name in processes}, f"a process of the stack died: {processes}"

    during = faults.readiness_during
    assert during["status"] == 503 and during["body"]["checks"]["database"] == "ok", during
    assert during["body"]["checks"]["broker"] != "ok", during
    after = poll(lambda: (r := readiness(flow.stack))["status"] == 200 and r, seconds=30,
                 what="/readyz to be ready after the outage")  # fmt: skip
    assert after["body"]["checks"]["broker"] == "ok"

    # Nothing twice: one order per external id, one shipment per order (one location here).
    created = SalesOrder.objects.filter(customer__code=flow.data["customer"], external_id__contains="-burst-")
    assert sorted(f"order-{pk}" for pk in created.values_list("pk", flat=True)) == sorted(refs)
    per_order = Shipment.objects.filter(order_ref__in=refs).values("order_ref", "from_location").annotate(n=Count("id"))
    assert len(per_order) == count and {row["n"] for row in per_order} == {1}


@pytest.fixture
def flow(request, committed_db, unique, tmp_path):
    request.getfixturevalue("default_carrier")  # imported from test_flow_burst_workers
    data = seed(unique)
    db = connection.settings_dict
    redis = RedisServer(tmp_path)
    stack = FlowStack(
        database_url=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        redis_url=redis.url, log_dir=tmp_path, web_workers=2,
        concurrency={"worker-workflow": 2, "worker-webhooks": 1, "worker-partners": 1}, env=STACK_ENV,
    )  # fmt: skip
    flow = Flow(stack, redis, data, tmp_path)
    try:
        redis.start()
        stack.start()
        warm = post_burst(flow, Answers(), None, WARM_UP, "warm")  # every process imported and connected
        poll(lambda: planned(warm) == WARM_UP, seconds=60, what=f"the warm-up to be planned ({tmp_path})")
        yield flow
    finally:
        stack.stop()
        redis.stop()


def test_orders_are_fulfilled_through_a_worker_kill_and_a_redis_restart(flow):
    stack, redis, answers = flow.stack, flow.redis, Answers()

    def kill_workflow_worker(begun):
        stack.kill_worker("worker-workflow")
        begun()
        stack.start_worker("worker-workflow", wait=True)  # consuming again before Redis goes

    def restart_redis(begun):
        redis.stop()
        faults.outage.set()
        begun()
        down_since = time.monotonic()
        faults.readiness_during = readiness(stack)
        time.sleep(max(0.0, REDIS_DOWN_SECONDS - (time.monotonic() - down_since)))
        redis.start()
        faults.outage.clear()

    steps = [(RESTART_ORDERS // 3, kill_workflow_worker), (2 * RESTART_ORDERS // 3, restart_redis)]
    faults = Faults(answers, steps)
    refs, _ = burst_with_faults(flow, answers, faults, RESTART_ORDERS)

    assert_outage_handled(flow, answers, faults, RESTART_ORDERS, refs)
    # The restarted worker lost its broker connection and found it again by itself: the orders whose
    # tasks were lost were planned by it, and nobody touched it after Redis came back.
    assert stack.starts["worker-workflow"] == 2
    workflow_log = stack.log("worker-workflow").read_text(errors="replace").rsplit("===== start", 1)[1]
    assert "Connection to broker lost" in workflow_log


def test_a_hung_redis_holds_requests_for_their_timeouts_not_for_the_outage(flow):
    stack, redis, answers = flow.stack, flow.redis, Answers()

    def freeze_redis(begun):
        os.kill(redis.process.pid, signal.SIGSTOP)
        faults.outage.set()
        begun()
        frozen_since = time.monotonic()
        faults.readiness_during = readiness(stack)
        time.sleep(max(0.0, REDIS_FROZEN_SECONDS - (time.monotonic() - frozen_since)))
        os.kill(redis.process.pid, signal.SIGCONT)
        faults.outage.clear()

    faults = Faults(answers, [(HANG_ORDERS // 2, freeze_redis)])
    refs, _ = burst_with_faults(flow, answers, faults, HANG_ORDERS)

    assert_outage_handled(flow, answers, faults, HANG_ORDERS, refs)
    assert answers.slowest_during_outage < REQUEST_BUDGET_SECONDS, answers.slowest_during_outage
