"""End-to-end flow: a burst of orders through the API until every one has a planned shipment.

Runs the production shape (bench/flow_stack.py: gunicorn, one Celery worker per queue group on a
private Redis, beat, PostgreSQL) and posts N orders (3 lines each, from a pool of SKUs with ample
stock) from C concurrent clients, then waits until each order has a planned shipment. Reported per
run:

- accept rate: orders answered 201 per second, from the first POST to the last answer;
- settle rate: orders with a planned shipment per second, from the first POST to the last plan
  (the ShipmentPlanned event's recorded_at);
- their ratio (settle/accept): 1.0 means the workers keep up with the API.

Runs, side by side in one table:

  clean    nothing else registered;
  broken   three webhook endpoints on loopback registered first: one whose port refuses
           connections, two that accept and never answer (production webhook settings);
  faults   the workflow worker is SIGKILLed (with its pool) a third of the way through the burst
           and restarted a second later, and the private Redis is killed (no persistence: every
           queued task is lost) two thirds of the way through and restarted a second later.

The clean run is profiled from outside: CPU seconds per process group of the stack and of the
database's backends, and pg_stat_activity sampled every 50 ms (what the backends were doing or
waiting on). Clients behave like careful integrations: an answer other than 201 (or none) is
retried with the same Idempotency-Key, so a retry never creates a second order.

    .venv/bin/python bench/bench_flow.py [--orders 300] [--clients 16] [--runs clean broken faults]
                                         [--web-workers 3] [--no-write] [--quick]

Recreates the database `scm_bench_flow` on BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres);
needs redis-server on the PATH (it starts its own on a free port, never touching a shared one).
Writes docs/PERFORMANCE.md section `flow` unless --no-write (or --quick).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import common
from flow_stack import FlowStack, RedisServer, cpu_seconds, free_port
from webhook_receiver import WebhookReceiver

SKUS = 30
# Production settings except a shorter workflow lease, so a step lost with a killed worker is
# resumed within the run (the lease must outlast the longest step; here steps take milliseconds).
STACK_ENV = {"ORDER_WORKFLOW_LEASE_SECONDS": "30"}
SETTLE_TIMEOUT = 600.0


@dataclass
class Run:
    name: str
    orders: int
    accepted: int = 0
    retries: int = 0
    first_post: float = 0.0  # epoch seconds
    last_accept: float = 0.0
    last_planned: float = 0.0
    planned: int = 0
    notes: list[str] = field(default_factory=list)
    profile: str = ""

    @property
    def accept_seconds(self) -> float:
        return self.last_accept - self.first_post

    @property
    def settle_seconds(self) -> float:
        return self.last_planned - self.first_post

    @property
    def accept_rate(self) -> float:
        return self.accepted / self.accept_seconds if self.accept_seconds > 0 else 0.0

    @property
    def settle_rate(self) -> float:
        return self.planned / self.settle_seconds if self.settle_seconds > 0 and self.planned else 0.0

    @property
    def ratio(self) -> float:
        return self.settle_rate / self.accept_rate if self.accept_rate else 0.0


# --- Partners on loopback -------------------------------------------------------------------------


def register_broken_endpoints() -> tuple[list[int], list[WebhookReceiver]]:
    from scm.webhooks import services as webhooks

    hanging = [WebhookReceiver(hanging=True), WebhookReceiver(hanging=True)]
    urls = [h.url for h in hanging] + [f"http://127.0.0.1:{free_port()}/hook"]  # nothing listens there
    ids = [webhooks.webhook_endpoint_create(url=url, secret="bench-secret-0123456789").pk for url in urls]
    return ids, hanging


def remove_endpoints(ids: list[int]) -> None:
    from scm.webhooks import services as webhooks

    for endpoint_id in ids:
        webhooks.webhook_endpoint_delete(endpoint_id=endpoint_id)


# --- Seed and load -----------------------------------------------------------------------------


def seed(run: str) -> dict:
    """SKUs with ample stock in one warehouse, a customer and an integration token, via the services."""
    from inventory import services as inventory
    from orders import services as orders
    from scm.api.services import integration_user_create

    location = inventory.location_upsert(code=f"FW-{run}", name="Flow bench warehouse").code
    skus = []
    for n in range(SKUS):
        sku = inventory.item_upsert(sku=f"FLOW-{run}-{n:02d}", name=f"Flow item {n}").sku
        inventory.stock_receive(sku=sku, location=location, qty=1_000_000, reference="bench opening stock")
        skus.append(sku)
    customer = orders.customer_upsert(code=f"FC-{run}", name="Flow bench customer").code
    token = integration_user_create(username=f"bench-flow-{run}").token
    return {"run": run, "customer": customer, "skus": skus, "token": token}


def order_body(data: dict, n: int) -> dict:
    skus = data["skus"]
    return {
        "customer": data["customer"],
        "external_id": f"{data['run']}-{n}",
        "lines": [{"sku": skus[(n * 7 + k * 11) % len(skus)], "qty": k + 1} for k in range(3)],
    }


def post_orders(base_url: str, data: dict, numbers: list[int], clients: int, run: Run, on_accept=None) -> None:
    """C threads with keep-alive sessions take order numbers from one queue; a careful client retries
    anything but 201 with the same Idempotency-Key until it is accepted (or 60 s have passed)."""
    import requests

    pending = list(reversed(numbers))
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {data['token']}"
        while True:
            with lock:
                if not pending:
                    return
                n = pending.pop()
            body, key = order_body(data, n), f"{data['run']}-{n}"
            give_up = time.monotonic() + 60
            while time.monotonic() < give_up:
                try:
                    status = session.post(
                        f"{base_url}/api/v1/orders/", json=body, headers={"Idempotency-Key": key}, timeout=30
                    ).status_code
                except requests.RequestException:
                    status = 0
                if status in (200, 201):  # 200: the retry of an order whose first answer was lost
                    with lock:
                        run.accepted += 1
                        run.last_accept = time.time()
                        accepted = run.accepted
                    if on_accept:
                        on_accept(accepted)
                    break
                with lock:
                    run.retries += 1
                time.sleep(0.2)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    run.first_post = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def wait_planned(data: dict, run: Run, numbers: list[int], timeout: float) -> None:
    """Poll until every order of `numbers` has a planned shipment; take the last plan's time from its event."""
    from orders.models import SalesOrder
    from scm.events.models import Event
    from shipments.models import Shipment

    ids = list(
        SalesOrder.objects.filter(customer__code=data["customer"])
        .filter(external_id__in=[f"{data['run']}-{n}" for n in numbers])
        .values_list("pk", flat=True)
    )
    refs = [f"order-{pk}" for pk in ids]
    deadline = time.monotonic() + timeout
    while True:
        planned = Shipment.objects.filter(order_ref__in=refs).values("order_ref").distinct().count()
        if planned >= len(numbers) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    run.planned = planned
    shipments = [f"shipment-{pk}" for pk in Shipment.objects.filter(order_ref__in=refs).values_list("pk", flat=True)]
    last = Event.objects.filter(type="ShipmentPlanned", stream__in=shipments).order_by("-recorded_at").first()
    run.last_planned = last.recorded_at.timestamp() if last else time.time()
    if planned < len(numbers):
        run.notes.append(f"only {planned} of {len(numbers)} orders planned after {timeout:.0f} s")


# --- Profile ---------------------------------------------------------------------------------


class Profiler:
    """Samples pg_stat_activity of the bench database every 50 ms and meters CPU seconds per process."""

    def __init__(self, database_url: str, stack: FlowStack) -> None:
        import psycopg2

        self.connection = psycopg2.connect(database_url)
        self.connection.autocommit = True
        self.stack = stack
        self.samples: Counter[str] = Counter()
        self.ticks = 0
        self.backends: set[int] = set()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        query = (
            "SELECT a.pid, a.state, a.wait_event_type, a.wait_event,"
            " left(regexp_replace(a.query, '\\s+', ' ', 'g'), 48),"
            " EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.granted)"
            " FROM pg_stat_activity a WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()"
        )
        with self.connection.cursor() as cursor:
            while not self.stop_event.wait(0.05):
                cursor.execute(query)
                self.ticks += 1
                rows = cursor.fetchall()
                for pid, state, wait_type, wait, text, holds_append_lock in rows:
                    self.backends.add(pid)
                    if state == "idle":
                        continue
                    self.samples[self._classify(state, wait_type, wait, text.strip(), holds_append_lock)] += 1
                if any(row[3] == "advisory" for row in rows) and not any(row[5] for row in rows):
                    self.samples["(append lock waited on, its holder between samples)"] += 1

    @staticmethod
    def _classify(state: str, wait_type: str | None, wait: str | None, text: str, holds: bool) -> str:
        who = "holding the append lock, " if holds else ""
        if state == "idle in transaction":
            return f"{who}idle in transaction (the client works) after: {text}"
        if wait == "advisory":
            return "waiting for the append lock"
        if wait_type in ("Lock", "LWLock", "IO", "IPC"):
            return f"{who}waiting on {wait_type}:{wait} in: {text}"
        return f"{who}running: {text}"

    def start(self) -> None:
        self.cpu_before = self._cpu()
        self.thread.start()

    def _cpu(self) -> dict[str, float]:
        per_name = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.stack.pids().items()}
        per_name["postgres backends"] = sum(cpu_seconds(pid) for pid in self.backends)
        return per_name

    def stop(self, seconds: float) -> str:
        self.stop_event.set()
        self.thread.join()
        after = self._cpu()
        self.connection.close()
        cpu = {name: after[name] - self.cpu_before.get(name, 0.0) for name in after}
        cpu_rows = "\n".join(
            f"| {name} | {value:.1f} | {value / seconds:.2f} |"
            for name, value in sorted(cpu.items(), key=lambda kv: -kv[1])
        )
        busy = sum(self.samples.values())
        held = sum(count for what, count in self.samples.items() if what.startswith("holding"))
        db_rows = "\n".join(
            f"| {what} | {count / self.ticks:.2f} | {count / busy:.0%} |"
            for what, count in self.samples.most_common(16)
        )
        return (
            f"CPU seconds used during the burst and settle ({seconds:.1f} s wall, {os.cpu_count()} cores):\n\n"
            "| process | CPU s | cores busy |\n|---|---:|---:|\n" + cpu_rows + "\n\n"
            f"Database backends by activity ({self.ticks} samples of pg_stat_activity, every 50 ms):\n\n"
            "| backend doing | backends on average | share of busy samples |\n|---|---:|---:|\n" + db_rows + "\n\n"
            f"The append lock was seen held in {held / self.ticks:.0%} of the samples."
        )


# --- Runs ------------------------------------------------------------------------------------


def warm_up(stack: FlowStack, data: dict, run: Run) -> None:
    """A few orders through the whole flow first, so every process has imported and connected."""
    post_orders(stack.base_url, data, list(range(-8, 0)), 4, Run("warm-up", 8))
    wait_planned(data, Run("warm-up", 8), list(range(-8, 0)), 120)


def fault_injector(stack: FlowStack, redis: RedisServer, total: int, run: Run):
    """Kills the workflow worker at a third of the burst and Redis at two thirds, each back a second later."""
    fired: set[str] = set()
    lock = threading.Lock()

    def kill_worker() -> None:
        stack.kill_worker("worker-workflow")
        time.sleep(1)
        stack.start_worker("worker-workflow", wait=False)
        run.notes.append("worker-workflow SIGKILLed and restarted")

    def restart_redis() -> None:
        redis.restart(down_seconds=1)
        run.notes.append("Redis killed (queued tasks lost) and restarted")

    def on_accept(accepted: int) -> None:
        for name, at, action in (("worker", total // 3, kill_worker), ("redis", 2 * total // 3, restart_redis)):
            with lock:
                if accepted < at or name in fired:
                    continue
                fired.add(name)
            threading.Thread(target=action, daemon=True).start()

    return on_accept


def run_one(name: str, args, database_url: str, log_root: Path) -> Run:
    data = seed(uuid.uuid4().hex[:6])
    run = Run(name, args.orders)
    log_dir = log_root / name
    log_dir.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(log_dir)
    redis.start()
    endpoints, receivers = register_broken_endpoints() if name == "broken" else ([], [])
    concurrency = {"worker-workflow": args.workflow_concurrency}
    stack = FlowStack(
        database_url=database_url, redis_url=redis.url, log_dir=log_dir, web_workers=args.web_workers,
        concurrency=concurrency, env=STACK_ENV,
    )  # fmt: skip
    try:
        stack.start()
        warm_up(stack, data, run)
        on_accept = fault_injector(stack, redis, args.orders, run) if name == "faults" else None
        profiler = Profiler(database_url, stack) if name == "clean" else None
        if profiler:
            profiler.start()
        numbers = list(range(args.orders))
        post_orders(stack.base_url, data, numbers, args.clients, run, on_accept)
        common.progress(f"  {name}: {run.accepted} accepted in {run.accept_seconds:.1f} s; waiting for plans ...")
        wait_planned(data, run, numbers, SETTLE_TIMEOUT)
        if profiler:
            run.profile = profiler.stop(time.time() - run.first_post)
    finally:
        stack.stop()
        redis.stop()
        for receiver in receivers:
            receiver.close()
        if endpoints:
            remove_endpoints(endpoints)
    common.progress(
        f"  {name}: accept {run.accept_rate:.1f}/s, settle {run.settle_rate:.1f}/s (ratio {run.ratio:.2f}),"
        f" {run.planned}/{run.orders} planned in {run.settle_seconds:.1f} s, {run.retries} retried; logs {log_dir}"
    )
    return run


# --- Report ----------------------------------------------------------------------------------


def section(runs: list[Run], args, command: str, load_before: str) -> str:
    clean = next((r for r in runs if r.name == "clean"), None)
    rows = []
    for r in runs:
        vs_clean = f"{r.settle_seconds / clean.settle_seconds:.2f}×" if clean and clean.settle_seconds else "—"
        rows.append(
            f"| {r.name} | {r.accepted}/{r.orders} | {r.accept_rate:.1f} | {r.planned}/{r.orders} "
            f"| {r.settle_seconds:.1f} | {r.settle_rate:.1f} | {r.ratio:.2f} | {vs_clean} | {r.retries} "
            f"| {'; '.join(r.notes) or '—'} |"
        )
    profile = next((r.profile for r in runs if r.profile), "")
    return f"""## Flow: a burst of orders until every one has a planned shipment

The production shape (`bench/flow_stack.py`): gunicorn ({args.web_workers} workers), one Celery worker per
queue group of `scm.queues.WORKER_GROUPS` (prefork; workflow pool {args.workflow_concurrency}, others 2) on
a private Redis, beat, PostgreSQL on loopback. {args.orders} orders of 3 lines (from {SKUS} SKUs with ample stock)
posted by {args.clients} concurrent clients; a default carrier is set (the built-in planner, no TMS).
Load average before the runs: {load_before}.

| run | accepted | accept /s | planned | settle s | settle /s | settle/accept | settle s vs clean | retries | notes |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---|
{chr(10).join(rows)}

- accept: 201 answers per second from the first POST to the last answer. settle: orders with a planned
  shipment per second, from the first POST to the last `ShipmentPlanned` event. Targets: clean settle/accept
  ≥ 0.5; broken settle time ≤ 1.3× clean; faults: every order planned.
- broken: two endpoints that accept and never answer, one refusing port, registered before the burst, with
  the production webhook settings (10 s deadline, breaker after 5 failures, 60 s reset).
- faults: the workflow worker and its pool SIGKILLed a third of the way through the burst (back after 1 s),
  Redis killed two thirds of the way (no persistence: every queued task is lost; back after 1 s). Lost steps
  come back through the sweeper (beat, every 10 s) and the workflow lease (30 s in this run, 120 s default).
  Client retries are POSTs answered with anything but 201 and repeated with the same Idempotency-Key.

### Where the time goes (clean run)

{profile}

Command: `{command}`
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--workflow-concurrency", type=int, default=4)
    parser.add_argument(
        "--runs", nargs="+", default=["clean", "broken", "faults"], choices=["clean", "broken", "faults"]
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--quick", action="store_true", help="60 orders, nothing written (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.no_write = 60, True

    load_before = " / ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"
    database_url = common.fresh_database("scm_bench_flow")
    common.progress(f"bench_flow: migrating {database_url.rsplit('@', 1)[-1]} ...")
    common.setup_django(database_url, OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8")
    from shipments import services as shipments

    shipments.carrier_upsert(code="FLOWX", name="Flow bench carrier", is_default=True)
    log_root = Path(tempfile.mkdtemp(prefix="bench-flow-"))
    runs = []
    for name in args.runs:
        common.progress(f"bench_flow: run {name} ({args.orders} orders, {args.clients} clients)")
        runs.append(run_one(name, args, database_url, log_root))
    for r in runs:
        common.report("flow", f"{r.name}: settle rate", r.settle_rate, "orders/s", r.accept_rate, "accept orders/s")
    command = shlex.join([".venv/bin/python", "bench/bench_flow.py", *sys.argv[1:]])
    text = section(runs, args, command, load_before)
    print(text)
    if not args.no_write:
        common.write_section("flow", text)
        common.progress(f"bench_flow: written to {common.PERFORMANCE_DOC.relative_to(common.ROOT)}")
    if any(r.planned < r.orders or r.accepted < r.orders for r in runs):
        sys.exit(1)


if __name__ == "__main__":
    main()
