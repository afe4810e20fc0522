"""Rebuild the balance projection from 1,000,000 ledger rows (and from as many events), streaming.

The rebuild (`inventory.projection.rebuild_balances`) reads rows through a server-side cursor and
keeps one running total per balance, so its memory depends on the number of balances, not rows.
Ceiling: a plain `SELECT` of the same columns streamed through a server-side cursor in the same run.

    .venv/bin/python bench/bench_replay.py [--rows 1000000] [--balances 5000] [--no-write]

Needs PostgreSQL (BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres); it creates
and drops its own database `scm_bench_replay`. Generating the rows takes about half a minute.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import common

GENERATE = """
INSERT INTO events_event (event_id, stream, version, type, schema_version, payload, metadata, occurred_at, recorded_at)
SELECT md5(g::text || 'replay')::uuid,
       'stock-R' || ((g %% %(balances)s) / %(locations)s) || '@L' || (g %% %(locations)s),
       g / %(balances)s + 1,
       'StockReceived', 1,
       jsonb_build_object(
           'sku', 'R' || ((g %% %(balances)s) / %(locations)s), 'location', 'L' || (g %% %(locations)s),
           'qty', 1 + g %% 7, 'reference', 'bench', 'inbound_reference', '', 'inbound_received', 0,
           'effective_at', now()::text,
           'movements', jsonb_build_array(jsonb_build_object(
               'sku', 'R' || ((g %% %(balances)s) / %(locations)s), 'location', 'L' || (g %% %(locations)s),
               'bucket', CASE WHEN g %% 5 = 0 THEN 'inbound' ELSE 'on_hand' END, 'qty', 1 + g %% 7,
               'reason', 'receipt'))),
       '{}'::jsonb, now(), now()
FROM generate_series(%(start)s, %(stop)s) AS g;

INSERT INTO inventory_ledgerentry (item_id, location_id, bucket, quantity, reason, reference, event_id,
                                   effective_at, recorded_at)
SELECT i.id, l.id, e.payload->'movements'->0->>'bucket', (e.payload->'movements'->0->>'qty')::bigint,
       'receipt', 'bench', e.position, e.occurred_at, e.recorded_at
FROM events_event e
JOIN inventory_item i ON i.sku = e.payload->>'sku'
JOIN inventory_location l ON l.code = e.payload->>'location'
WHERE e.position > %(after)s;
"""


def generate(url: str, rows: int, balances: int, locations: int) -> None:
    import psycopg2

    skus = balances // locations
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO inventory_item (sku, name, unit, pack_size, active, safety_stock, min_qty, lead_time_days) "
            "SELECT 'R' || g, 'Replay item ' || g, 'EA', 1, true, 0, 0, 7 FROM generate_series(0, %s) g",
            [skus - 1],
        )
        cursor.execute(
            "INSERT INTO inventory_location (code, name, kind, active, allocation_rank) "
            "SELECT 'L' || g, 'Replay location ' || g, 'warehouse', true, 100 FROM generate_series(0, %s) g",
            [locations - 1],
        )
    batch = 100_000
    for start in range(0, rows, batch):
        stop = min(rows, start + batch) - 1
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(position), 0) FROM events_event")
            after = cursor.fetchone()[0]
            cursor.execute(
                GENERATE,
                {"balances": balances, "locations": locations, "start": start, "stop": stop, "after": after},
            )
        common.progress(f"  generated {stop + 1:,} / {rows:,} rows")
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("ANALYZE")


CEILING_QUERIES = {
    "ledger": "SELECT item_id, location_id, bucket, quantity FROM inventory_ledgerentry",
    "events": "SELECT m->>'sku', m->>'location', m->>'bucket', (m->>'qty')::bigint "
    "FROM events_event, jsonb_array_elements(payload->'movements') AS m WHERE type = 'StockReceived'",
}


def plain_select_stream(url: str, sql: str) -> tuple[int, float]:
    import psycopg2

    connection = psycopg2.connect(url)
    started = time.perf_counter()
    with connection.cursor(name="plain_stream") as cursor:
        cursor.itersize = 5000
        cursor.execute(sql)
        count = sum(1 for _ in cursor)
    elapsed = time.perf_counter() - started
    connection.close()
    return count, elapsed


def measured_rebuild(source: str) -> tuple[int, float, float]:
    """Time one rebuild, then measure the peak of Python allocations in a second one (tracemalloc
    slows Python down, so it must not run while the clock does)."""
    from inventory.projection import rebuild_balances

    started = time.perf_counter()
    result = rebuild_balances(source=source, progress=lambda n: common.progress(f"  {source}: {n:,} rows"))
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    rebuild_balances(source=source)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result.rows_read, elapsed, peak / 1024 / 1024


def main() -> None:
    # Longer than 60 lines on purpose: a benchmark's main reads top to bottom as its protocol
    # (arguments, set-up, warm-up, measurement, the ceiling, the report), in the order it runs.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--balances", type=int, default=5000)
    parser.add_argument("--locations", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    common.progress("preparing database scm_bench_replay")
    url = common.fresh_database("scm_bench_replay")
    common.setup_django(url)
    common.progress(f"generating {args.rows:,} events and ledger rows over {args.balances:,} balances")
    generate(url, args.rows, args.balances, args.locations)

    results = []
    for source in ("ledger", "events"):
        common.progress(f"ceiling for {source}: plain SELECT stream of the same rows")
        plain_rows, plain_seconds = plain_select_stream(url, CEILING_QUERIES[source])
        plain_rate = plain_rows / plain_seconds
        common.progress(f"rebuild from {source}")
        rows, seconds, peak_mib = measured_rebuild(source)
        results.append((source, rows, seconds, peak_mib, plain_rate))
        common.report(
            "replay into balances",
            f"from {source}, {rows:,} rows, peak {peak_mib:.1f} MiB",
            rows / seconds,
            "rows/s",
            plain_rate,
            "plain SELECT stream rows/s",
        )
        print(
            f"rebuild from {source}: {rows:,} rows in {seconds:.1f}s = {rows / seconds:,.0f} rows/s "
            f"(plain stream {plain_rate:,.0f} rows/s, ratio {rows / seconds / plain_rate:.2f}), "
            f"peak Python memory {peak_mib:.1f} MiB",
            flush=True,
        )
    from inventory.selectors import check_balances

    # Generated inbound rows have no InboundSupply records; only the ledger comparison applies here.
    if [d for d in check_balances() if d.source == "ledger"]:
        raise SystemExit("rebuilt projection does not match the ledger")
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    table = "\n".join(
        f"| rebuild from {source} | {rows:,} | {rows / seconds:,.0f} | {plain_rate:,.0f} | "
        f"{rows / seconds / plain_rate:.2f} | {peak:.1f} MiB |"
        for source, rows, seconds, peak, plain_rate in results
    )
    section = f"""## Replaying 1,000,000 rows into the balance projection (issue 9)

`rebuild_balances` streams rows through a server-side cursor (chunks of 5,000) and keeps one running total
per balance ({args.balances:,} balances here). The ceiling of each run is a plain `SELECT` of the same rows
(ledger columns; event movements unnested with `jsonb_array_elements`) streamed through a server-side cursor
in the same run. Peak memory is the peak of Python allocations during a rebuild (tracemalloc, measured in a
separate untimed pass); the whole process peaked at {max_rss:,.0f} MiB RSS, most of it Django itself.

| run | rows | rows/s | plain SELECT rows/s (ceiling) | ratio | peak memory |
|---|---:|---:|---:|---:|---:|
{table}

Reproduce: `.venv/bin/python bench/bench_replay.py --rows {args.rows}`.
"""
    if not args.no_write:
        common.write_section("replay", section)


if __name__ == "__main__":
    main()
