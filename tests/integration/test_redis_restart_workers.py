"""A burst of orders through the running system while its workflow worker is killed and Redis restarts.

The production shape from bench/flow_stack.py (gunicorn, one real Celery worker process per queue
group, beat) on the test database and a private redis-server (never the shared one: it is killed),
which is the broker, the cache behind the API throttle and the store of the periodic locks. A burst
of orders from concurrent clients; mid-burst

1. the workflow worker group is SIGKILLed with its pool and started again (steps in flight are lost
   with their leases held), then
2. Redis is killed (no persistence: every queued task, kick marker and lock is gone), stays down
   for a few seconds while a third of the burst is posted, and comes back.

Clients behave like careful integrations: an answer other than 201 is retried with the same
Idempotency-Key after its Retry-After. Asserted: every order reaches a planned shipment within a
bound, with nobody touching the workers after Redis returns (they reconnect by themselves and the
sweeper finds the steps whose tasks were lost); no answer was a 5xx other than a JSON 503 with a
retry hint; no order or shipment exists twice; /readyz names the broker during the outage and is
ready again after it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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

ORDERS, WARM_UP, AFTER, CLIENTS = 40, 4, 4, 8
KILL_AT, REDIS_DOWN_AT = ORDERS // 3, 2 * ORDERS // 3  # orders from here on wait for the fault
REDIS_DOWN_SECONDS = 3.0
# Time for the burst to be planned after Redis is back. Once the lost tasks are gone, a step is run
# again when the sweeper (every WORKFLOW_SWEEP_SECONDS) finds it due: at once for a step whose task
# was lost, after ORDER_WORKFLOW_LEASE_SECONDS for one whose worker was killed in the middle of it.
# Add a worker's restart (imports, ~5-15 s on a loaded machine) and the steps themselves.
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
    # path; the rate is high enough that this burst and its retries are never throttled.
    "API_THROTTLE_INTEGRATION": "100000/min",
}


@dataclass
class Answers:
    """Every answer the API gave during the burst, and the ones that broke the contract."""

    statuses: Counter = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    accepted: int = 0
    during_outage: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, response: requests.Response | None, error: str, outage: bool) -> None:
        status = response.status_code if response is not None else "no answer"
        with self.lock:
            self.statuses[status] += 1
            if outage:
                self.during_outage[status] += 1
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


class Faults:
    """Kills the workflow worker, then Redis, as the burst reaches each point; orders past a point are
    posted only once its fault has happened, so each fault lands mid-burst whatever the machine's speed."""

    def __init__(self, stack: FlowStack, redis: RedisServer, answers: Answers) -> None:
        self.stack, self.redis, self.answers = stack, redis, answers
        self.worker_killed, self.redis_down, self.redis_back = threading.Event(), threading.Event(), threading.Event()
        self.readiness_during: dict = {}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def wait_accepted(self, count: int) -> None:
        poll(lambda: self.answers.accepted >= count, seconds=60, what=f"{count} orders accepted")

    def run(self) -> None:
        self.wait_accepted(KILL_AT)
        self.stack.kill_worker("worker-workflow")
        self.worker_killed.set()
        # Back and consuming before Redis goes, so the restarted worker meets the outage too.
        self.stack.start_worker("worker-workflow", wait=True)
        self.wait_accepted(REDIS_DOWN_AT)
        self.redis.stop()
        self.redis_down.set()
        down_since = time.monotonic()
        self.readiness_during = readiness(self.stack)
        time.sleep(max(0.0, REDIS_DOWN_SECONDS - (time.monotonic() - down_since)))
        self.redis.start()
        self.redis_back.set()

    def gate(self, n: int) -> threading.Event | None:
        if n >= REDIS_DOWN_AT:
            return self.redis_down
        return self.worker_killed if n >= KILL_AT else None


def readiness(stack: FlowStack) -> dict:
    response = requests.get(f"{stack.base_url}/readyz", timeout=30)
    return {"status": response.status_code, "body": response.json()}


def post_burst(
    stack: FlowStack, data: dict, answers: Answers, faults: Faults | None, count: int, label: str
) -> list[str]:
    """Post `count` orders from CLIENTS clients, each retried with its Idempotency-Key until accepted."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {data['token']}"

    def post(n: int) -> str:
        gate = faults.gate(n) if faults else None
        if gate is not None:
            gate.wait(120)  # a worker restart on a loaded machine
        external_id = f"{data['unique']}-{label}-{n}"
        skus = data["skus"]
        body = {
            "customer": data["customer"],
            "external_id": external_id,
            "lines": [{"sku": skus[(n + k) % len(skus)], "qty": k + 1} for k in range(3)],
        }
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            outage = bool(faults) and faults.redis_down.is_set() and not faults.redis_back.is_set()
            response, error = None, ""
            try:
                response = session.post(f"{stack.base_url}/api/v1/orders/", json=body, timeout=30,
                                        headers={"Idempotency-Key": external_id})  # fmt: skip
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"
            answers.record(response, error, outage)
            if response is not None and response.status_code in (200, 201):
                return f"order-{response.json()['id']}"
            time.sleep(min(1.0, float(response.headers.get("Retry-After", 1)) if response is not None else 1.0))
        raise AssertionError(f"order {external_id} was never accepted")

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, range(count)))


@pytest.mark.usefixtures("default_carrier")
def test_orders_are_fulfilled_through_a_worker_kill_and_a_redis_restart(committed_db, unique, tmp_path):
    data = seed(unique)
    db = connection.settings_dict
    redis = RedisServer(tmp_path)
    redis.start()
    stack = FlowStack(
        database_url=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        redis_url=redis.url, log_dir=tmp_path, web_workers=2,
        concurrency={"worker-workflow": 2, "worker-webhooks": 1, "worker-partners": 1}, env=STACK_ENV,
    )  # fmt: skip
    answers = Answers()
    try:
        stack.start()
        warm = post_burst(stack, data, Answers(), None, WARM_UP, "warm")  # every process imported and connected
        poll(lambda: planned(warm) == WARM_UP, seconds=60, what=f"the warm-up to be planned ({tmp_path})")

        faults = Faults(stack, redis, answers)
        faults.thread.start()
        refs = post_burst(stack, data, answers, faults, ORDERS, "burst")
        faults.thread.join(30)
        assert faults.redis_back.is_set(), "the fault injector did not finish"
        back = time.monotonic()
        poll(lambda: planned(refs) == ORDERS, seconds=SETTLE_SECONDS,
             what=f"every order to be planned after Redis came back ({tmp_path})")  # fmt: skip
        settled = time.monotonic() - back
        # After the outage a request queues its step again (the web's broker connection is back), so
        # new orders no longer wait for the sweeper.
        web_log_size = stack.log("web").stat().st_size
        after = post_burst(stack, data, answers, None, AFTER, "after")
        poll(lambda: planned(after) == AFTER, seconds=30, what="the orders after the outage to be planned")
        web_log_after = stack.log("web").read_bytes()[web_log_size:].decode(errors="replace")
        ready_after = poll(lambda: (r := readiness(stack))["status"] == 200 and r, seconds=30,
                           what="/readyz to be ready after the outage")  # fmt: skip
        processes = {name: p.poll() for name, p in stack.processes.items()}
        workflow_log = stack.log("worker-workflow").read_text(errors="replace").rsplit("===== start", 1)[1]
    finally:
        stack.stop()
        redis.stop()

    print(f"answers {dict(answers.statuses)}; during the outage {dict(answers.during_outage)}; "
          f"all planned {settled:.1f} s after Redis came back")  # fmt: skip
    assert not answers.bad, f"answers that were neither accepted nor a JSON 503 with Retry-After: {answers.bad[:5]}"
    assert sum(answers.during_outage.values()) > 0, "no order was posted while Redis was down"
    assert processes == {name: None for name in processes}, f"a process of the stack died: {processes}"

    # The restarted worker lost its broker connection and found it again by itself: the orders
    # posted during the outage were planned by it (nobody touched it after Redis came back).
    assert "Connection to broker lost" in workflow_log
    assert stack.starts["worker-workflow"] == 2

    during = faults.readiness_during
    assert during["status"] == 503, during
    assert during["body"]["checks"]["broker"] != "ok", during
    assert during["body"]["checks"]["database"] == "ok", during
    assert ready_after["body"]["checks"]["broker"] == "ok"
    assert "queueing orders.tasks.run_fulfillment_step" not in web_log_after

    # Nothing twice: one order per external id, one shipment per order (one location here).
    created = SalesOrder.objects.filter(customer__code=data["customer"], external_id__contains="-burst-")
    assert created.count() == ORDERS
    assert sorted(f"order-{pk}" for pk in created.values_list("pk", flat=True)) == sorted(refs)
    per_order = Shipment.objects.filter(order_ref__in=refs).values("order_ref", "from_location").annotate(n=Count("id"))
    assert len(per_order) == ORDERS and {row["n"] for row in per_order} == {1}
