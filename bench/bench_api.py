"""API throughput and latency: order creation (3 lines) beside a trivial authenticated DRF endpoint.

Starts gunicorn with the production settings (DEBUG off, a SECRET_KEY, PostgreSQL, the project's
gunicorn config, 4 workers) on a free loopback port, seeds items, stock, a customer and an
integration account through the services, then drives 16 concurrent connections for a fixed time
against

  (a) POST /api/v1/orders/ with 3 lines and a fresh Idempotency-Key per request (what a careful
      integration sends), and
  (b) GET /api/v1/items/<sku>/: token authentication, the role check and one indexed row read,
      the floor any API request pays on this stack,

and prints requests/s and p50/p95/p99 latency for both and their ratio. The load comes from
`wrk` (Debian package `wrk`) with a Lua script that gives every POST its own external id; when
wrk is not installed a Python generator (threads + requests) takes over and says so.

    .venv/bin/python bench/bench_api.py [--duration 20] [--connections 16] [--workers 4]
                                        [--database-url postgres://...] [--no-write] [--quick]

Without --database-url (or DATABASE_URL in the environment) it recreates its own database
`scm_bench_api` on BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres). With
one, it migrates it and seeds uniquely named rows, so it can run against a shared database.
The order POST does the whole API path: validation, the idempotency record, the order, its lines,
its workflow row and the OrderCreated event in one transaction. Workflow steps and subscriptions
are not kicked off from the request (ORDER_WORKFLOW_AUTORUN=0, EVENT_DISPATCH_ON_COMMIT=0) unless
--redis-url is given, in which case they are queued on that broker as in production (nothing
consumes them during the run). The integration throttle is switched off so it does not cap the
measurement. Writes its figures into docs/PERFORMANCE.md (section `api`) unless --no-write.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import common

ROOT = common.ROOT
GUNICORN = Path(sys.executable).with_name("gunicorn")

WRK_POST_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token %(token)s"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
local counter = 0
function request()
  counter = counter + 1
  local external_id = "%(run)s-" .. tid .. "-" .. counter
  wrk.headers["Idempotency-Key"] = external_id
  local body = '{"customer": "%(customer)s", "external_id": "' .. external_id .. '", "priority": 5, "lines": ['
    .. '{"sku": "%(sku1)s", "qty": 1}, {"sku": "%(sku2)s", "qty": 2}, {"sku": "%(sku3)s", "qty": 3}]}'
  return wrk.format(nil, nil, nil, body)
end
"""
WRK_GET_SCRIPT = """
wrk.headers["Authorization"] = "Token %(token)s"
"""
# wrk 4.1 gives Lua no raw access to its latency histogram, so the distribution travels as 1000 quantiles
# (0.05th, 0.15th, ... 99.95th percentile), each standing for a thousandth of the round's requests.
WRK_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK-RESULT {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
  local parts = {}
  for k = 0, 999 do
    parts[#parts + 1] = string.format("%d", latency:percentile((k + 0.5) / 10))
  end
  io.write("WRK-QUANTILES " .. table.concat(parts, ",") .. " " .. latency.max .. "\\n")
end
"""


@dataclass
class Round:
    """One fixed-time slice of load on one endpoint: answered requests and their latency distribution."""

    ok: int
    seconds: float
    failed: int
    quantiles_us: list[int]  # equally spaced quantiles of the latency, each standing for ok/len requests
    max_us: int

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass
class Figures:
    name: str
    rounds: list[Round]

    @property
    def requests(self) -> int:
        return sum(r.ok for r in self.rounds)

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.rounds)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.rounds)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        """The p-th percentile over all rounds, each round weighted by how many requests it answered."""
        points = sorted(
            (value, r.ok / len(r.quantiles_us)) for r in self.rounds if r.quantiles_us for value in r.quantiles_us
        )
        total = sum(weight for _, weight in points)
        seen = 0.0
        for value, weight in points:
            seen += weight
            if seen >= p / 100 * total:
                return value / 1000
        return points[-1][0] / 1000 if points else 0.0

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p95_ms(self) -> float:
        return self.percentile_ms(95)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return max((r.max_us for r in self.rounds), default=0) / 1000


# --- Setup ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(run: str) -> dict:
    """Items with plenty of stock, a warehouse, a customer and an integration token, via the services."""
    from inventory import services as inventory
    from orders import services as orders
    from scm.api.services import integration_user_create
    from scm.roles import INTEGRATION

    location = inventory.location_upsert(code=f"BW-{run}", name="Bench warehouse").code
    skus = []
    for n in (1, 2, 3):
        sku = inventory.item_upsert(sku=f"BENCH-{run}-{n}", name=f"Bench item {n}").sku
        inventory.stock_receive(sku=sku, location=location, qty=1_000_000_000, reference="bench opening stock")
        skus.append(sku)
    customer = orders.customer_upsert(code=f"BC-{run}", name="Bench customer").code
    token = integration_user_create(username=f"bench-api-{run}", role=INTEGRATION).token
    return {"run": run, "customer": customer, "sku1": skus[0], "sku2": skus[1], "sku3": skus[2], "token": token}


def queries_per_request(data: dict) -> tuple[int, int]:
    """SQL statements one order creation and one item read issue, counted in-process on the same database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {data['token']}")
    body = {
        "customer": data["customer"],
        "external_id": f"{data['run']}-warm-count",
        "lines": [{"sku": data[f"sku{k}"], "qty": k} for k in (1, 2, 3)],
    }
    with CaptureQueriesContext(connection) as order_queries:
        response = client.post(
            "/api/v1/orders/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"{data['run']}-count"
        )
    if response.status_code != 201:
        raise RuntimeError(f"counting order answered {response.status_code}: {response.content[:500]!r}")
    with CaptureQueriesContext(connection) as item_queries:
        response = client.get(f"/api/v1/items/{data['sku1']}/")
    if response.status_code != 200:
        raise RuntimeError(f"counting item read answered {response.status_code}: {response.content[:500]!r}")
    return len(order_queries), len(item_queries)


def server_environment(database_url: str, args: argparse.Namespace, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "PROMETHEUS_"))}
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(40),
        DATABASE_URL=database_url,
        DATABASE_CONN_MAX_AGE=str(args.conn_max_age),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(args.workers),
        API_THROTTLE_INTEGRATION="off",
        LOG_LEVEL=args.log_level,
    )
    if args.redis_url:
        env.update(REDIS_URL=args.redis_url, ORDER_WORKFLOW_AUTORUN="1", EVENT_DISPATCH_ON_COMMIT="1")
    else:
        env.pop("REDIS_URL", None)
        env.update(ORDER_WORKFLOW_AUTORUN="0", EVENT_DISPATCH_ON_COMMIT="0")
    return env


def start_gunicorn(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # No control socket: its default path is shared by every gunicorn on the machine.
    command = [str(GUNICORN), "-c", "scm/observability/gunicorn_conf.py", "--no-control-socket", "scm.wsgi"]
    log = log_path.open("wb")
    # Its own process group, so that cleanup reaches the workers too.
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_ready(base_url: str, server: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}; see {log_path}")
        try:
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f}s; see {log_path}")


def stop_gunicorn(server: subprocess.Popen) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# --- Load -------------------------------------------------------------------------------------


def run_wrk(url: str, script: str, seconds: int, args: argparse.Namespace) -> Round:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + WRK_DONE)
        script_path = handle.name
    command = [
        "wrk",
        f"-t{min(args.connections, args.wrk_threads)}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        script_path,
        url,
    ]
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script_path)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in output.splitlines() if line.startswith("WRK-")}
    if "WRK-RESULT" not in lines or "WRK-QUANTILES" not in lines:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    raw = json.loads(lines["WRK-RESULT"])
    quantiles, max_us = lines["WRK-QUANTILES"].split()
    return Round(
        ok=raw["requests"] - raw["non_2xx"],
        seconds=raw["duration_us"] / 1e6,
        failed=raw["non_2xx"] + raw["socket_errors"],
        quantiles_us=[int(value) for value in quantiles.split(",")] if raw["requests"] else [],
        max_us=int(max_us),
    )


def run_python_load(url: str, data: dict, seconds: int, args: argparse.Namespace, *, post: bool) -> Round:
    """The fallback load generator: one thread and one keep-alive session per connection."""
    import requests

    latencies: list[list[float]] = [[] for _ in range(args.connections)]
    failures = [0] * args.connections
    barrier = threading.Barrier(args.connections + 1)
    stop_at = [0.0]
    salt = uuid.uuid4().hex[:6]

    def client(index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {data['token']}"
        barrier.wait()
        n = 0
        while time.perf_counter() < stop_at[0]:
            n += 1
            started = time.perf_counter()
            try:
                if post:
                    external_id = f"{data['run']}-py{salt}-{index}-{n}"  # unique: a repeat would be a replay
                    body = {
                        "customer": data["customer"],
                        "external_id": external_id,
                        "priority": 5,
                        "lines": [{"sku": data[f"sku{k}"], "qty": k} for k in (1, 2, 3)],
                    }
                    response = session.post(url, json=body, headers={"Idempotency-Key": external_id}, timeout=10)
                else:
                    response = session.get(url, timeout=10)
                ok = response.status_code < 300
            except requests.RequestException:
                ok = False
            if ok:
                latencies[index].append(time.perf_counter() - started)
            else:
                failures[index] += 1

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.connections)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = sorted(round(value * 1e6) for per_client in latencies for value in per_client)
    return Round(
        ok=len(samples), seconds=elapsed, failed=sum(failures), quantiles_us=samples, max_us=max(samples, default=0)
    )


def measure(base_url: str, data: dict, args: argparse.Namespace, *, use_wrk: bool) -> tuple[Figures, Figures]:
    """Alternate short rounds of the two endpoints, so that whatever else the machine does in the
    meantime weighs on both alike; every round's latencies are kept and merged per endpoint."""
    endpoints = [
        ("POST orders (3 lines)", f"{base_url}/api/v1/orders/", True),
        ("GET item (trivial)", f"{base_url}/api/v1/items/{data['sku1']}/", False),
    ]
    results = {name: Figures(name, []) for name, _, _ in endpoints}
    per_round = max(1, args.duration // args.rounds)
    for number in range(1, args.rounds + 1):
        for name, url, post in endpoints:
            if use_wrk:
                # A fresh prefix per round: wrk restarts its counters, and a repeated key would be a cheap replay.
                script = (WRK_POST_SCRIPT if post else WRK_GET_SCRIPT) % {**data, "run": f"{data['run']}-r{number}"}
                result = run_wrk(url, script, per_round, args)
            else:
                result = run_python_load(url, data, per_round, args, post=post)
            results[name].rounds.append(result)
            common.progress(
                f"  round {number}/{args.rounds} {name}: {result.per_second:,.0f} req/s over {result.seconds:.1f} s"
                f" ({result.failed} failed)"
            )
    orders, trivial = (results[name] for name, _, _ in endpoints)
    return orders, trivial


def warm_up(base_url: str, data: dict, workers: int) -> None:
    """A few requests of each kind first, so every worker has imported everything and opened its connection."""
    import requests

    headers = {"Authorization": f"Token {data['token']}"}
    for n in range(workers * 4):
        external_id = f"{data['run']}-warm-{n}"
        body = {"customer": data["customer"], "external_id": external_id, "lines": [{"sku": data["sku1"], "qty": 1}]}
        response = requests.post(f"{base_url}/api/v1/orders/", json=body, headers=headers, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"warm-up order answered {response.status_code}: {response.text[:500]}")
        response = requests.get(f"{base_url}/api/v1/items/{data['sku1']}/", headers=headers, timeout=30)
        if response.status_code != 200:
            raise RuntimeError(f"warm-up item read answered {response.status_code}: {response.text[:500]}")


# --- Report -----------------------------------------------------------------------------------


def postgres_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0].split()[0]


def section(
    orders: Figures,
    trivial: Figures,
    *,
    args,
    tool: str,
    command: str,
    created: int,
    load_before: str,
    statements: tuple[int, int],
) -> str:
    ratio = orders.per_second / trivial.per_second if trivial.per_second else 0.0
    round_ratios = ", ".join(
        f"{a.per_second / b.per_second:.2f}" if b.per_second else "-"
        for a, b in zip(orders.rounds, trivial.rounds, strict=True)
    )
    rows = "\n".join(
        f"| {f.name} | {f.per_second:,.0f} | {f.p50_ms:.1f} | {f.p95_ms:.1f} | {f.p99_ms:.1f} | {f.max_ms:.0f} "
        f"| {f.requests:,} | {f.failed} |"
        for f in (orders, trivial)
    )
    broker = f"queued on {args.redis_url}" if args.redis_url else "not started from the request (AUTORUN off)"
    return f"""## API: order creation vs a trivial authenticated endpoint

gunicorn with the project's config (`scm/observability/gunicorn_conf.py`), {args.workers} sync workers, DEBUG off,
PostgreSQL {postgres_version()} on loopback, persistent connections (DATABASE_CONN_MAX_AGE={args.conn_max_age}),
JSON request logging at {args.log_level}. Load average before the run: {load_before}.
Load: **{tool}**, {args.connections} concurrent connections, {args.duration} s per endpoint in {args.rounds}
alternating rounds (orders, trivial, orders, ...), client and server on the same machine.

| endpoint | requests/s | p50 ms | p95 ms | p99 ms | max ms | requests | failed |
|---|---:|---:|---:|---:|---:|---:|---:|
{rows}

**Ratio: order creation runs at {ratio:.2f}× the trivial endpoint's throughput.**

- (a) `POST /api/v1/orders/`: 3 lines, a new `Idempotency-Key` and `external_id` per request; each does the
  idempotency record, the order, 3 lines, the workflow row and the `OrderCreated` event (with the event log's
  append lock) in one transaction. Workflow steps: {broker}. Orders in the database afterwards:
  {created:,} ({orders.requests:,} answered within the run, the rest were in flight when it stopped).
- (b) `GET /api/v1/items/<sku>/`: token lookup, role check, one indexed row, a small JSON body.
- SQL statements per request (counted in-process on the same database): {statements[0]} for an order
  (token and role lookups, the idempotency record, SKU and customer checks, the inserts, the append,
  re-reading the order for the answer, the stored response), {statements[1]} for the item read. Most of the
  gap in throughput is those round trips and the transaction's commit.
- Integration throttling was off for the run (it would cap requests, not measure them).
- Percentiles over all rounds: each round's latency distribution (1000 quantiles from wrk) weighted by its
  requests. Ratio round by round (orders/trivial): {round_ratios}.
- Absolute figures depend on the machine and on what else runs on it (see the load average); the ratio,
  measured on one server in alternating rounds, is the figure to compare between runs.

Command: `{command}`
"""


def main() -> None:
    # Longer than 60 lines on purpose: a benchmark's main reads top to bottom as its protocol
    # (arguments, set-up, warm-up, measurement, the ceiling, the report), in the order it runs.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load per endpoint (default 20)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds the duration is split into")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--wrk-threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""), help="PostgreSQL URL")
    parser.add_argument("--redis-url", default="", help="queue workflow tasks on this broker, as in production")
    parser.add_argument("--conn-max-age", type=int, default=60, help="DATABASE_CONN_MAX_AGE for the server")
    parser.add_argument("--log-level", default="INFO", help="server LOG_LEVEL (default INFO, as in production)")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even with wrk")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/PERFORMANCE.md")
    parser.add_argument("--quick", action="store_true", help="4 s per endpoint, nothing written (a smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.no_write = 4, 2, True

    database_url = args.database_url or common.fresh_database("scm_bench_api")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench_api needs PostgreSQL: pass --database-url postgres://... (or set DATABASE_URL)")
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    if use_wrk:
        tool = "wrk " + (subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split() or ["?", "?"])[1]
    elif args.python_load:
        tool = "Python load generator (threads + requests)"
    else:
        tool = "Python load generator (threads + requests; wrk is not installed)"
    common.progress(f"bench_api: migrating and seeding {database_url.rsplit('@', 1)[-1]} ...")
    common.setup_django(database_url, ORDER_WORKFLOW_AUTORUN="0", API_THROTTLE_INTEGRATION="off")
    run = uuid.uuid4().hex[:8]
    data = seed(run)
    statements = queries_per_request(data)

    load_before = " / ".join(f"{value:.2f}" for value in os.getloadavg()) + " (1/5/15 min)"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"bench-api-gunicorn-{run}.log"
    server = start_gunicorn(server_environment(database_url, args, port), log_path)
    try:
        common.progress(f"bench_api: gunicorn ({args.workers} workers) on {base_url}, log {log_path}")
        wait_until_ready(base_url, server, log_path)
        warm_up(base_url, data, args.workers)
        common.progress(f"bench_api: load with {tool}")
        orders, trivial = measure(base_url, data, args, use_wrk=use_wrk)
    finally:
        stop_gunicorn(server)
        common.progress("bench_api: gunicorn stopped")

    from orders.models import SalesOrder

    created = SalesOrder.objects.filter(customer__code=data["customer"]).exclude(external_id__contains="-warm-").count()
    ratio = orders.per_second / trivial.per_second if trivial.per_second else 0.0
    print(
        f"POST orders (3 lines): {orders.per_second:,.1f} req/s  p50 {orders.p50_ms:.1f} ms  "
        f"p95 {orders.p95_ms:.1f} ms  p99 {orders.p99_ms:.1f} ms  failed {orders.failed}"
    )
    print(
        f"GET item (trivial):    {trivial.per_second:,.1f} req/s  p50 {trivial.p50_ms:.1f} ms  "
        f"p95 {trivial.p95_ms:.1f} ms  p99 {trivial.p99_ms:.1f} ms  failed {trivial.failed}"
    )
    print(f"ratio orders/trivial:  {ratio:.3f}   (orders in the database: {created:,})")
    common.report(
        "api", "order create (3 lines), 16 clients", orders.per_second, "req/s", trivial.per_second, "trivial GET req/s"
    )
    common.report("api", "order create p99", orders.p99_ms, "ms")
    if orders.failed or trivial.failed:
        common.progress(f"bench_api: some requests failed; see {log_path}")
    if created < orders.requests:
        common.progress(
            f"bench_api: only {created} orders exist for {orders.requests} answered POSTs: replays, not work"
        )
        sys.exit(1)
    if not args.no_write:
        command = shlex.join([".venv/bin/python", "bench/bench_api.py", *sys.argv[1:]])
        common.write_section(
            "api",
            section(
                orders,
                trivial,
                args=args,
                tool=tool,
                command=command,
                created=created,
                load_before=load_before,
                statements=statements,
            ),
        )
        common.progress(f"bench_api: figures written to {common.PERFORMANCE_DOC.relative_to(ROOT)}")
    if orders.failed or trivial.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
