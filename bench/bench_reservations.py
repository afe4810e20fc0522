"""Reservations per second on one hot SKU, beside PostgreSQL's own ceiling for the same work.

Each reservation is a full call of `inventory.services.stock_reserve_many`, the service allocation calls
(`orders.services.order_allocate`), with one line: validate, resolve the SKU and location, lock the
balance row, write the reservation record, update the balance, append the event (with the log's
append lock) and write the ledger row. Each client is its own process with its own connection, as
web and worker processes are in production (threads in one process would measure the GIL).
The ceiling is pgbench running the same statements per transaction (lock the balance, upsert the
reservation, update the balance, take the append lock, insert the event and the ledger row), at the
same client counts: what PostgreSQL does for the same work without Python and Django.

    .venv/bin/python bench/bench_reservations.py [--seconds 10] [--clients 1 8 32] [--no-write]

Needs PostgreSQL (BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres); it
creates and drops its own database (`--database`, default `scm_bench_reservations`). Safe to
interrupt and rerun.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import common

PGBENCH_SETUP = """
CREATE TABLE IF NOT EXISTS pgb_balance (id int PRIMARY KEY, on_hand bigint, reserved bigint,
    CHECK (reserved <= on_hand));
CREATE TABLE IF NOT EXISTS pgb_reservation (holder bigint PRIMARY KEY, quantity bigint);
CREATE TABLE IF NOT EXISTS pgb_event (position bigserial PRIMARY KEY, stream text, version int, type text,
    payload jsonb, recorded_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS pgb_ledger (id bigserial PRIMARY KEY, bucket text, quantity bigint, event bigint);
INSERT INTO pgb_balance VALUES (1, 1000000000, 0) ON CONFLICT (id) DO UPDATE SET reserved = 0;
"""
PGBENCH_SCRIPT = """\\set holder random(1, 1000000000)
BEGIN;
SELECT on_hand, reserved FROM pgb_balance WHERE id = 1 FOR UPDATE;
INSERT INTO pgb_reservation VALUES (:holder, 1)
    ON CONFLICT (holder) DO UPDATE SET quantity = pgb_reservation.quantity + 1;
UPDATE pgb_balance SET reserved = reserved + 1 WHERE id = 1;
SELECT pg_advisory_xact_lock(7466510099);
INSERT INTO pgb_event (stream, version, type, payload) VALUES ('stock-HOT@WH', 1, 'StockReserved', '{"qty": 1}');
INSERT INTO pgb_ledger (bucket, quantity, event) VALUES ('reserved', 1, currval('pgb_event_position_seq'));
END;
"""


def _client(index: int, clients: int, seconds: float, sku: str, location: str, barrier, results) -> None:
    """One client process: reserve one unit at a time until the shared deadline."""
    from django.db import connection

    from inventory import services as inventory

    try:
        connection.ensure_connection()
        barrier.wait()
        deadline = time.time() + seconds
        done = 0
        while time.time() < deadline:
            holder = f"bench-{clients}-{index}-{done}"
            inventory.stock_reserve_many(requests=[inventory.ReservationRequest(sku, location, 1, holder)])
            done += 1
        results.put((done, ""))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put((0, repr(exc)))
    finally:
        connection.close()


def run_service_load(clients: int, seconds: float, sku: str, location: str) -> tuple[int, float]:
    """`clients` separate processes (as web or worker processes are in production), each its own
    connection; returns reservations made and the wall time."""
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients + 1)
    results = context.Queue()
    processes = [
        context.Process(target=_client, args=(i, clients, seconds, sku, location, barrier, results))
        for i in range(clients)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join(timeout=30)
    errors = [error for _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    return sum(done for done, _ in outcomes), elapsed


def main() -> None:
    # Longer than 60 lines on purpose: a benchmark's main reads top to bottom as its protocol
    # (arguments, set-up, warm-up, measurement, the ceiling, the report), in the order it runs.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    parser.add_argument("--database", default="scm_bench_reservations", help="the database to create and use")
    args = parser.parse_args()

    common.progress(f"preparing database {args.database}")
    url = common.fresh_database(args.database)
    common.setup_django(url, DATABASE_CONN_MAX_AGE="600")
    import psycopg2

    from inventory import services as inventory

    inventory.item_upsert(sku="HOT-1", name="The hot SKU")
    inventory.location_upsert(code="WH-HOT", name="Hot warehouse")
    inventory.stock_receive(sku="HOT-1", location="WH-HOT", qty=1_000_000_000, reference="bench stock")
    with psycopg2.connect(url) as raw, raw.cursor() as cursor:
        cursor.execute(PGBENCH_SETUP)

    rows = []
    for clients in args.clients:
        common.progress(f"service reservations, {clients} client(s), {args.seconds:g}s")
        done, elapsed = run_service_load(clients, args.seconds, "HOT-1", "WH-HOT")
        service_rate = done / elapsed
        common.progress(f"pgbench ceiling, {clients} client(s), {args.seconds:g}s")
        with psycopg2.connect(url) as raw, raw.cursor() as cursor:
            cursor.execute("UPDATE pgb_balance SET reserved = 0; TRUNCATE pgb_reservation")
        ceiling = common.pgbench(url, PGBENCH_SCRIPT, clients=clients, seconds=int(args.seconds))
        rows.append((clients, service_rate, ceiling))
        common.report(
            "reservations (hot SKU)",
            f"{clients} client(s)",
            service_rate,
            "reservations/s",
            ceiling,
            "pgbench same statements tps",
        )
        print(
            f"{clients:>3} clients: {service_rate:8.0f} reservations/s   pgbench {ceiling:8.0f} tps   "
            f"ratio {service_rate / ceiling:.2f}",
            flush=True,
        )

    from inventory.selectors import check_balances

    drift = check_balances()
    if drift:
        raise SystemExit(f"balances drifted during the benchmark: {drift[:3]}")

    table = "\n".join(
        f"| {clients} | {rate:,.0f} | {ceiling:,.0f} | {rate / ceiling:.2f} |" for clients, rate, ceiling in rows
    )
    section = f"""## Reservations on one hot SKU (issues 3 and 13)

Each reservation is a full call of `inventory.services.stock_reserve_many` with one line, the service
allocation uses (validation, balance row lock, reservation record, balance update, event append,
ledger row; about seven statements in one transaction), each client a separate process with its own
connection. It is the one reservation implementation, on every backend: the `scm_reserve` database
function, which did a lone `stock_reserve` in one round trip and which allocation never called, is gone
(issue 13). The hot balance row stays locked from the lock to the commit, across the service's round
trips. Ceiling: `pgbench` running the same statements per transaction (lock, reservation upsert,
balance update, append lock, event insert, ledger insert), same client count, same run, same database.
{args.seconds:g} s per measurement.

| clients | reservations/s | pgbench tps (ceiling) | ratio |
|---:|---:|---:|---:|
{table}

Reproduce: `.venv/bin/python bench/bench_reservations.py --seconds {args.seconds:g}` (PostgreSQL on 127.0.0.1:5432).
"""
    if not args.no_write:
        common.write_section("reservations", section)
        common.progress(f"wrote {Path(common.PERFORMANCE_DOC).relative_to(common.ROOT)}")


if __name__ == "__main__":
    main()
