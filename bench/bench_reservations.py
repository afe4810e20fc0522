"""Reservations per second on one hot SKU, beside PostgreSQL's own ceiling for the same work.

Each reservation is a full service call (`inventory.services.reserve`): resolve the SKU and
location, lock the balance row, update it, write the reservation record, the ledger row and the
event (with the log's append lock). The ceiling is pgbench running, per transaction, one
conditional UPDATE of a balance row plus one INSERT of an event row, at the same client counts.

    .venv/bin/python bench/bench_reservations.py [--seconds 10] [--clients 1 8 32] [--no-write]

Needs PostgreSQL (BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres); it
creates and drops its own database `scm_bench_reservations`. Safe to interrupt and rerun.
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path

import common

PGBENCH_SETUP = """
CREATE TABLE IF NOT EXISTS pgb_balance (id int PRIMARY KEY, on_hand bigint, reserved bigint,
    CHECK (reserved <= on_hand));
CREATE TABLE IF NOT EXISTS pgb_event (position bigserial PRIMARY KEY, stream text, version int, type text,
    payload jsonb, recorded_at timestamptz DEFAULT now());
INSERT INTO pgb_balance VALUES (1, 1000000000, 0) ON CONFLICT (id) DO UPDATE SET reserved = 0;
"""
PGBENCH_SCRIPT = """BEGIN;
UPDATE pgb_balance SET reserved = reserved + 1 WHERE id = 1 AND on_hand - reserved >= 1;
INSERT INTO pgb_event (stream, version, type, payload) VALUES ('stock-HOT@WH', 1, 'StockReserved', '{"qty": 1}');
END;
"""


def run_service_load(clients: int, seconds: float, sku: str, location: str) -> tuple[int, float]:
    from django.db import connection

    from inventory import services as inventory

    counts = [0] * clients
    errors: list[BaseException] = []
    stop_at = [0.0]
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        try:
            inventory.get_item(sku)  # open the connection before the clock starts
            barrier.wait()
            n = 0
            while time.perf_counter() < stop_at[0]:
                inventory.reserve(sku=sku, location=location, qty=1, holder=f"bench-{clients}-{index}-{n}")
                n += 1
            counts[index] = n
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]!r}")
    return sum(counts), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = parser.parse_args()

    common.progress("preparing database scm_bench_reservations")
    url = common.fresh_database("scm_bench_reservations")
    common.setup_django(url, DATABASE_CONN_MAX_AGE="600")
    import psycopg2

    from inventory import services as inventory

    inventory.item_upsert(sku="HOT-1", name="The hot SKU")
    inventory.location_upsert(code="WH-HOT", name="Hot warehouse")
    inventory.receive(sku="HOT-1", location="WH-HOT", qty=1_000_000_000, reference="bench stock")
    with psycopg2.connect(url) as raw, raw.cursor() as cursor:
        cursor.execute(PGBENCH_SETUP)

    rows = []
    for clients in args.clients:
        common.progress(f"service reservations, {clients} client(s), {args.seconds:g}s")
        done, elapsed = run_service_load(clients, args.seconds, "HOT-1", "WH-HOT")
        service_rate = done / elapsed
        common.progress(f"pgbench ceiling, {clients} client(s), {args.seconds:g}s")
        with psycopg2.connect(url) as raw, raw.cursor() as cursor:
            cursor.execute("UPDATE pgb_balance SET reserved = 0")
        ceiling = common.pgbench(url, PGBENCH_SCRIPT, clients=clients, seconds=int(args.seconds))
        rows.append((clients, service_rate, ceiling))
        common.report(
            "reservations (hot SKU)",
            f"{clients} client(s)",
            service_rate,
            "reservations/s",
            ceiling,
            "pgbench UPDATE+INSERT tps",
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
    section = f"""## Reservations on one hot SKU (issue 3)

Each reservation is a full `inventory.services.reserve` call (row lock, balance update, reservation
record, ledger row, event append). Ceiling: `pgbench` with one conditional UPDATE plus one event INSERT
per transaction, same client count, same run, same database. {args.seconds:g} s per measurement.

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
