"""Inbound 856 ship notices per second: stored raw, parsed and applied, on PostgreSQL.

Each message is what a supplier's POST or poll costs the system, without the HTTP layer: the raw
store (its own committed transaction) and the processing transaction (message row lock, checksum
and interchange claims, X12 read and 856 mapping, supplier lock, resolution of PO numbers and part
numbers, the ship notice and its lines, inbound supply moved per line through the inventory
services with their ledger rows and events, the 997 reply, the outcome event). Every message is a
different interchange (own ISA13 and shipment id) with `--lines` items for one purchase order, from
one supplier, so concurrent clients also contend on that supplier's row lock and the event log's
append lock, as a busy supplier would.

The ceiling beside it is pgbench doing, per message, the same number of row writes in two
transactions (a bytea insert; then a row lock, two claim inserts, one ship-notice-like insert,
per line an inbound update and two inserts, one event per line plus two): PostgreSQL's floor for
the work, without Python.

    .venv/bin/python bench/bench_ingest_856.py [--messages 400] [--clients 1 4] [--lines 5] [--quick]
                                               [--database-url postgres://...] [--no-write]

Without --database-url (or DATABASE_URL) it recreates its own database `scm_bench_ingest_856` on
BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres); with one it migrates it and
seeds uniquely named rows, so it can run against a shared database. Prints the figures and, unless
--no-write, writes them into docs/PERFORMANCE.md (section `ingest_856`). Safe to interrupt and rerun.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
import uuid

import common

PGBENCH_SETUP = """
CREATE TABLE IF NOT EXISTS pgb_message (id bigserial PRIMARY KEY, body bytea, sha256 text, status text);
CREATE TABLE IF NOT EXISTS pgb_claim (id bigserial PRIMARY KEY, key text, message_id bigint);
CREATE TABLE IF NOT EXISTS pgb_notice (id bigserial PRIMARY KEY, number text, payload jsonb);
CREATE TABLE IF NOT EXISTS pgb_inbound (id int PRIMARY KEY, quantity bigint);
CREATE TABLE IF NOT EXISTS pgb_ledger (id bigserial PRIMARY KEY, inbound_id int, quantity bigint);
CREATE TABLE IF NOT EXISTS pgb_event (position bigserial PRIMARY KEY, stream text, type text, payload jsonb);
INSERT INTO pgb_inbound SELECT g, 0 FROM generate_series(1, 64) g ON CONFLICT (id) DO NOTHING;
"""


def pgbench_script(lines: int) -> str:
    per_line = "\n".join(
        f"UPDATE pgb_inbound SET quantity = quantity + 1 WHERE id = {n + 1};\n"
        f"INSERT INTO pgb_ledger (inbound_id, quantity) VALUES ({n + 1}, 1);\n"
        f"INSERT INTO pgb_event (stream, type, payload) VALUES ('stock', 'InboundSupplyAdded', '{{\"qty\": 1}}');"
        for n in range(lines)
    )
    return f"""\\set k random(1, 2000000000)
BEGIN;
INSERT INTO pgb_message (body, sha256, status)
    VALUES (convert_to(repeat('SN1**24*EA~', 60), 'UTF8'), md5(:k::text), 'RECEIVED') RETURNING id AS message_id \\gset
END;
BEGIN;
SELECT id FROM pgb_message WHERE id = :message_id FOR UPDATE;
INSERT INTO pgb_claim (key, message_id) VALUES ('sha256:' || :k, :k);
INSERT INTO pgb_claim (key, message_id) VALUES ('isa:' || :k, :k);
INSERT INTO pgb_notice (number, payload) VALUES (:k::text, '{{"lines": {lines}}}');
{per_line}
INSERT INTO pgb_event (stream, type, payload) VALUES ('po', 'ShipNoticeReceived', '{{}}');
INSERT INTO pgb_event (stream, type, payload) VALUES ('msg', 'SupplierMessageApplied', '{{}}');
UPDATE pgb_message SET status = 'APPLIED' WHERE id = :message_id;
END;
"""


def interchange(sender: str, control: int, shipment: str, po_number: str, parts: list[str]) -> bytes:
    body = [f"BSN*00*{shipment}*20260115*1200*0001", "HL*1**S", "DTM*011*20260115", "DTM*017*20260120"]
    body += ["HL*2*1*O", f"PRF*{po_number}"]
    for index, part in enumerate(parts, start=3):
        body += [f"HL*{index}*2*I", f"LIN*{index - 2}*VP*{part}", "SN1**1*EA"]
    body.append(f"CTT*{len(parts)}")
    segments = [
        f"ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*SCMCORE        *260115*1200*U*00401*{control:09d}*0*P*>",
        f"GS*SH*{sender}*SCMCORE*20260115*1200*{control}*X*004010",
        "ST*856*0001",
        *body,
        f"SE*{len(body) + 2}*0001",
        f"GE*1*{control}",
        f"IEA*1*{control:09d}",
    ]
    return ("~\n".join(segments) + "~\n").encode()


def seed(prefix: str, lines: int):
    from inventory import services as inventory
    from suppliers import services

    supplier = services.supplier_upsert(code=f"{prefix}SUP", name="Bench supplier", isa_id=f"{prefix}ISA"[:15])
    inventory.location_upsert(code=f"{prefix}DC"[:32], name="Bench DC")
    parts = []
    for n in range(lines):
        sku = f"{prefix}SKU{n}"
        inventory.item_upsert(sku=sku, name=f"Bench item {n}")
        services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"{prefix}P{n}", sku=sku)
        parts.append(f"{prefix}P{n}")
    order = services.purchase_order_create(
        number=f"{prefix}PO",
        supplier=supplier.code,
        destination=f"{prefix}DC"[:32],
        lines=[{"sku": f"{prefix}SKU{n}", "qty": 1_000_000, "unit_price": 1} for n in range(lines)],
    )
    services.purchase_order_send(po_id=order.pk)
    return supplier, order, parts


def _client(bodies: list[bytes], barrier, results) -> None:
    """One client process: store and process its share of the messages, one after the other."""
    from django.db import connection

    from suppliers import inbound

    latencies: list[float] = []
    statuses: list[str] = []
    try:
        connection.ensure_connection()
        barrier.wait()
        for body in bodies:
            started = time.perf_counter()
            message = inbound.inbound_message_store(body=body, source="api")
            message = inbound.inbound_message_process(message_id=message.pk)
            latencies.append(time.perf_counter() - started)
            statuses.append(str(message.status))
        results.put((latencies, statuses, ""))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put((latencies, statuses, repr(exc)))
    finally:
        connection.close()


def run_load(clients: int, bodies: list[bytes]) -> tuple[float, list[float], list[str]]:
    """Store and process every body from `clients` separate processes (as web and worker processes
    are in production, each with its own connection and interpreter); elapsed seconds, per-message
    latencies, statuses."""
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(clients + 1)
    results = context.Queue()
    processes = [context.Process(target=_client, args=(bodies[i::clients], barrier, results)) for i in range(clients)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    outcomes = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join(timeout=30)
    errors = [error for _, _, error in outcomes if error]
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    return (
        elapsed,
        [t for latencies, _, _ in outcomes for t in latencies],
        [s for _, statuses, _ in outcomes for s in statuses],
    )


def count_statements(body: bytes) -> tuple[int, dict[str, int]]:
    """SQL statements one more notice costs (store + process), by kind, counted at the driver."""
    from django.db import connection

    from suppliers import inbound

    kinds: dict[str, int] = {}

    def count(execute, sql, params, many, context):
        kind = sql.lstrip().split(None, 1)[0].upper()
        kinds[kind] = kinds.get(kind, 0) + 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        message = inbound.inbound_message_store(body=body, source="api")
        message = inbound.inbound_message_process(message_id=message.pk)
    if message.status != "APPLIED":
        raise SystemExit(f"the counted message was not applied: {message.status} {message.errors}")
    return sum(kinds.values()), kinds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    # Longer than 60 lines on purpose: a benchmark's main reads top to bottom as its protocol
    # (arguments, set-up, warm-up, measurement, the ceiling, the report), in the order it runs.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400, help="856 messages per client count")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--lines", type=int, default=5, help="items (LIN/SN1) per ship notice")
    parser.add_argument("--seconds", type=int, default=10, help="pgbench duration per client count")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--quick", action="store_true", help="a short run to check the benchmark works")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/PERFORMANCE.md")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.clients, args.seconds = 60, [1, 4], 3

    own_database = not args.database_url
    database_url = args.database_url or common.fresh_database("scm_bench_ingest_856")
    common.progress(f"migrating {database_url.rsplit('/', 1)[-1]} ...")
    common.setup_django(database_url, SUPPLIER_DEFAULT_TRANSIT_DAYS="3", CELERY_TASK_ALWAYS_EAGER="1")

    from inventory import selectors as inventory_selectors

    rows = []
    for clients in args.clients:
        prefix = f"b{uuid.uuid4().hex[:6]}-"
        supplier, order, parts = seed(prefix, args.lines)
        bodies = [
            interchange(supplier.isa_id, n + 1, f"{prefix}ASN{n}", order.number, parts)
            for n in range(args.messages + 1)
        ]
        counted = bodies.pop()
        common.progress(f"{clients} client(s): {args.messages} messages of {len(bodies[0])} bytes, {args.lines} lines")
        elapsed, latencies, statuses = run_load(clients, bodies)
        applied = statuses.count("APPLIED")
        if applied != args.messages:
            raise SystemExit(f"only {applied} of {args.messages} messages were applied: {set(statuses)}")
        statements, kinds = count_statements(counted)
        expected = args.messages + 1  # one unit per line per message, per SKU
        inbound_total = sum(s.quantity for s in inventory_selectors.inbound_for(sku=f"{prefix}SKU0"))
        if inbound_total != expected:
            raise SystemExit(f"inbound supply of {prefix}SKU0 is {inbound_total}, expected {expected}")
        tps = None
        if own_database:
            common.pgbench(database_url, PGBENCH_SETUP, clients=1, seconds=1)
            tps = common.pgbench(database_url, pgbench_script(args.lines), clients=clients, seconds=args.seconds)
        rate = args.messages / elapsed
        rows.append(
            {
                "clients": clients,
                "rate": rate,
                "p50": percentile(latencies, 0.50) * 1000,
                "p95": percentile(latencies, 0.95) * 1000,
                "mean": statistics.mean(latencies) * 1000,
                "ceiling": tps,
                "statements": statements,
            }
        )
        print(
            f"{clients} client(s): {rate:,.1f} messages/s stored+parsed+applied "
            f"(p50 {rows[-1]['p50']:.1f} ms, p95 {rows[-1]['p95']:.1f} ms per message)"
            + (f"; pgbench floor for the same writes {tps:,.0f}/s ({rate / tps:.2f})" if tps else "")
            + f"; {statements} SQL statements per notice ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})",
            flush=True,
        )
        common.report(
            "ingest_856",
            f"856 messages/s, {clients} client(s), {args.lines} lines",
            rate,
            "msg/s",
            ceiling=tps,
            ceiling_name="pgbench same writes/s",
        )
        if clients == args.clients[0]:
            common.report("ingest_856", f"SQL statements per 856 notice, {args.lines} lines", statements, "statements")

    table = "\n".join(
        f"| {r['clients']} | {r['rate']:,.1f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['statements']} | "
        + (f"{r['ceiling']:,.0f} | {r['rate'] / r['ceiling']:.2f} |" if r["ceiling"] else "— | — |")
        for r in rows
    )
    section = f"""## Inbound 856 ship notices: stored, parsed and applied

`bench/bench_ingest_856.py --messages {args.messages} --lines {args.lines}`: each message is a distinct X12
interchange from one supplier, {args.lines} items for one purchase order; stored raw (own transaction) then
processed (claims, X12 read and 856 mapping, ship notice, inbound supply per line with ledger rows and
events, 997 reply). The ceiling is pgbench doing the same row writes per message without Python.

| clients | messages/s | p50 ms | p95 ms | SQL statements per notice | pgbench same writes/s | ratio |
|---:|---:|---:|---:|---:|---:|---:|
{table}

One supplier's messages are processed one at a time (its row is locked for the control numbers of the
997), so more clients of one supplier mostly queue; different suppliers proceed in parallel up to the
event log's append lock.
"""
    if not args.no_write:
        common.write_section("ingest_856", section)
        common.progress("wrote docs/PERFORMANCE.md (section ingest_856)")


if __name__ == "__main__":
    main()
