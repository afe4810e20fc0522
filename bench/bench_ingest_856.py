"""Inbound 856 ship notices per second: stored raw, parsed and applied, on PostgreSQL.

Each message is what a supplier's POST or poll costs the system, without the HTTP layer: the raw
store (one INSERT, committed on its own) and the processing transaction (message row lock, checksum
and interchange claims, X12 read and 856 mapping, supplier lock, resolution of PO numbers and part
numbers, the ship notice and its lines, inbound supply moved per line with ledger rows and events,
the 997 reply, the outcome event). Every message is a different interchange (own ISA13 and shipment
id) with `--lines` items for its supplier's purchase order. Clients are processes (as web and worker
processes are); three shapes are measured: one client; four clients of four suppliers (each its own
order and items: they meet only at the event log's append lock); four clients of one supplier (they
also queue on its row lock, its order's lines and its balances).

The ceiling beside each is pgbench writing, per message, the same rows into the same tables in the
same two transactions, with the row locks a correct implementation takes first (`pgbench_script`),
its clients on the same suppliers' rows: PostgreSQL's floor for the work, without reads and Python.

    .venv/bin/python bench/bench_ingest_856.py [--messages 400] [--clients 1 4] [--lines 5] [--quick]
                                               [--database-url postgres://...] [--no-write]

Without --database-url (or DATABASE_URL) it recreates its own database `scm_bench_ingest_856` on
BENCH_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) and runs the floor; with one it
migrates it and seeds uniquely named rows, so it can run against a shared database (no floor then).
Prints the figures and, unless --no-write, writes them into docs/PERFORMANCE.md (section
`ingest_856`). Safe to interrupt and rerun.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
import uuid

import common


def _pad(size: int) -> str:
    """A JSON object of about `size` bytes (what the real event payload of that kind weighs)."""
    return '{"pad": "' + "x" * max(0, size - 12) + '"}'


def pgbench_script(lines: int) -> str:
    """The floor: per message, the rows the service writes, into the same tables (same indexes,
    constraints and triggers), in the same two transactions, straight from pgbench. The raw message
    insert commits on its own; then the row locks any correct implementation takes first, in the
    documented order (the message, the supplier's control numbers for the 997, the PO lines and the
    balances, by id: without them concurrent clients deadlock), two claims, the notice and its lines,
    the PO lines' shipped quantities, the inbound supply rows and balances, the stock events and the
    order's announcement through the same append function, the ledger rows, the 997's row, the
    message's outcome and its event. No reads but the client's row ids (`floor_clients`), no Python:
    what PostgreSQL needs for the work."""
    from scm.events.store import APPEND_LOCK_KEY

    numbers = range(1, lines + 1)
    notice_lines = ", ".join(f"(:notice, {i}, :l{i}, 'SKU-{i}', 1, 0, '')" for i in numbers)
    supply = ", ".join(
        f"(:i{i}, :loc, 'ASN-' || :notice || '/{i}', 'asn', 1, current_date + 3, now(), now())" for i in numbers
    )
    ledger = ", ".join(
        f"(:i{i}, :loc, 'inbound', 1, 'inbound_added', 'ASN-' || :notice || '/{i}', :position, now(), now())"
        for i in numbers
    )
    po_lines = ", ".join(f":l{i}" for i in numbers)
    balances = ", ".join(f":b{i}" for i in numbers)
    streams = ", ".join([f"':s{i}'" for i in numbers] + ["':os'"])
    types = ", ".join(["'InboundSupplyMoved'"] * lines + ["'ShipNoticeReceived'"])
    payloads = ", ".join([f"'{_pad(384)}'"] * lines + [f"'{_pad(1218)}'"])
    events = lines + 1
    return f"""\\set k random(1, 2000000000)
SELECT * FROM pgb_client WHERE client_id = :client_id \\gset
INSERT INTO suppliers_inboundmessage (body, sha256, size, source, format, content_type, filename, received_at,
    status, errors, document_types, interchange_sender, interchange_control, attempts, summary, profile_versions)
    VALUES (convert_to(repeat('SN1**1*EA~', 54), 'UTF8'), md5(:k::text) || md5(:k::text), 540, 'api', 'x12', '', '',
    now(), 'RECEIVED', '[]', '[]', '', '', 0, '{{}}', '{{}}') RETURNING id AS message \\gset
BEGIN;
SELECT id FROM suppliers_inboundmessage WHERE id = :message FOR UPDATE;
UPDATE suppliers_supplier SET next_isa_control = next_isa_control + 1, next_gs_control = next_gs_control + 1,
    next_st_control = next_st_control + 1 WHERE id = :sup RETURNING next_isa_control;
SELECT id FROM suppliers_purchaseorderline WHERE id IN ({po_lines}) ORDER BY id FOR UPDATE;
SELECT id FROM inventory_balance WHERE id IN ({balances}) ORDER BY id FOR UPDATE;
INSERT INTO suppliers_messageclaim (key, message_id, created_at) VALUES ('sha256:' || :message, :message, now())
    ON CONFLICT DO NOTHING RETURNING message_id;
INSERT INTO suppliers_messageclaim (key, message_id, created_at) VALUES ('isa:' || :message, :message, now())
    ON CONFLICT DO NOTHING RETURNING message_id;
INSERT INTO suppliers_shipnotice (supplier_id, number, message_id, shipped_on, expected_on, carrier, bill_of_lading,
    created_at) VALUES (:sup, 'PGB-' || :message, :message, current_date, current_date + 3, '', '', now())
    RETURNING id AS notice \\gset
INSERT INTO suppliers_shipnoticeline (notice_id, line_no, po_line_id, sku, qty, qty_received, pack)
    VALUES {notice_lines};
UPDATE suppliers_purchaseorderline SET qty_shipped = qty_shipped + 1 WHERE id IN ({po_lines});
INSERT INTO inventory_inboundsupply (item_id, location_id, reference, source, quantity, expected_date, created_at,
    updated_at) VALUES {supply}
    ON CONFLICT (reference, item_id, location_id) DO UPDATE SET quantity = inventory_inboundsupply.quantity + 1;
UPDATE inventory_balance SET inbound = inbound + 1, updated_at = now() WHERE id IN ({balances});
SELECT min(event_position) AS position FROM scm_append_events_many({APPEND_LOCK_KEY}, ARRAY[{streams}],
    ARRAY(SELECT gen_random_uuid() FROM generate_series(1, {events})), ARRAY[{types}], array_fill(1, ARRAY[{events}]),
    ARRAY[{payloads}]::jsonb[], array_fill('{{}}'::jsonb, ARRAY[{events}]),
    array_fill(now(), ARRAY[{events}]), now()) \\gset
INSERT INTO inventory_ledgerentry (item_id, location_id, bucket, quantity, reason, reference, event_id, effective_at,
    recorded_at) VALUES {ledger};
INSERT INTO suppliers_outboundmessage (supplier_id, kind, body, sha256, isa_control, gs_control, st_control,
    inbound_message_id, status, created_at) VALUES (:sup, '997', convert_to(repeat('AK2*856*0001~', 20), 'UTF8'),
    md5(:message::text) || md5(:message::text), '1', '1', '1', :message, 'prepared', now());
UPDATE suppliers_inboundmessage SET status = 'APPLIED', errors = '[]', summary = '{_pad(150)}',
    document_types = '["856"]', interchange_sender = 'ZZ:BENCH', interchange_control = '1', attempts = 1,
    processed_at = now(), supplier_id = :sup, profile_versions = '{{}}' WHERE id = :message;
SELECT event_position FROM scm_append_events('inbound-message-' || :message, NULL, {APPEND_LOCK_KEY},
    ARRAY[gen_random_uuid()], ARRAY['SupplierMessageApplied'], ARRAY[1], ARRAY['{_pad(338)}'::jsonb],
    ARRAY['{{}}'::jsonb], ARRAY[now()], now());
END;
"""


def floor_clients(database_url: str, trades: list, clients: int, lines: int) -> None:
    """Table `pgb_client`: for each pgbench client (its `client_id`), the ids of the seeded rows of the
    trade its service counterpart ships for (client c: trade c modulo the trades), read by the script."""
    import psycopg2

    from inventory.models import Balance

    columns = ["sup", "loc"] + [f"{kind}{i}" for kind in "lbi" for i in range(1, lines + 1)]
    texts = [f"s{i}" for i in range(1, lines + 1)] + ["os"]
    rows = []
    for client in range(clients):
        supplier, order, prefix = trades[client % len(trades)]
        skus = [f"{prefix}SKU{n}" for n in range(lines)]
        found = {b.item.sku: b for b in Balance.objects.select_related("item", "location").filter(item__sku__in=skus)}
        location = found[skus[0]].location
        po_lines = [line.pk for line in order.lines.order_by("line_no")]
        numbers = [supplier.pk, location.pk, *po_lines, *(found[s].pk for s in skus), *(found[s].item_id for s in skus)]
        streams = [f"stock-{sku}@{location.code}" for sku in skus] + [order.stream]
        rows.append((client, *numbers, *streams))
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pgb_client")
        cursor.execute(
            "CREATE TABLE pgb_client (client_id int PRIMARY KEY, "
            + ", ".join([f"{name} bigint" for name in columns] + [f"{name} text" for name in texts])
            + ")"
        )
        cursor.executemany(
            f"INSERT INTO pgb_client VALUES ({', '.join(['%s'] * (1 + len(columns) + len(texts)))})", rows
        )


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


def run_load(shares: list[list[bytes]]) -> tuple[float, list[float], list[str]]:
    """Store and process each client's share of the bodies from a separate process per client (as web
    and worker processes are in production, each with its own connection and interpreter); elapsed
    seconds, per-message latencies, statuses."""
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(shares) + 1)
    results = context.Queue()
    processes = [context.Process(target=_client, args=(share, barrier, results)) for share in shares]
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
    latencies = [latency for share, _, _ in outcomes for latency in share]
    return elapsed, latencies, [status for _, statuses, _ in outcomes for status in statuses]


def run_scenario(clients: int, suppliers: int, args, database_url: str, own_database: bool) -> dict:
    """`clients` processes, client c sending supplier c modulo `suppliers`'s messages (each supplier
    its own purchase order and items); then the statements of one more notice, the inbound check, and
    pgbench's floor with the same clients writing to the same rows."""
    from inventory import selectors as inventory_selectors

    trades, shares = [], [[] for _ in range(clients)]
    for index in range(suppliers):
        prefix = f"b{uuid.uuid4().hex[:6]}-"
        supplier, order, parts = seed(prefix, args.lines)
        trades.append((supplier, order, prefix))
        mine = [c for c in range(clients) if c % suppliers == index]
        count = args.messages // suppliers
        for n in range(count):
            body = interchange(supplier.isa_id, n + 1, f"{prefix}ASN{n}", order.number, parts)
            shares[mine[n % len(mine)]].append(body)
    supplier, order, prefix = trades[0]
    counted = interchange(
        supplier.isa_id, 999_999, f"{prefix}ASN-counted", order.number, [f"{prefix}P{n}" for n in range(args.lines)]
    )
    sent = sum(len(share) for share in shares)
    common.progress(f"{clients} client(s), {suppliers} supplier(s): {sent} messages, {args.lines} lines")
    elapsed, latencies, statuses = run_load(shares)
    if statuses.count("APPLIED") != sent:
        raise SystemExit(f"only {statuses.count('APPLIED')} of {sent} messages were applied: {set(statuses)}")
    statements, trips, kinds = count_statements(counted)
    for index, (_, _, trade_prefix) in enumerate(trades):
        expected = args.messages // suppliers + (1 if index == 0 else 0)  # one unit per line per message
        inbound_total = sum(s.quantity for s in inventory_selectors.inbound_for(sku=f"{trade_prefix}SKU0"))
        if inbound_total != expected:
            raise SystemExit(f"inbound supply of {trade_prefix}SKU0 is {inbound_total}, expected {expected}")
    tps = None
    if own_database:
        floor_clients(database_url, trades, clients, args.lines)
        tps = common.pgbench(database_url, pgbench_script(args.lines), clients=clients, seconds=args.seconds)
    return {
        "clients": clients,
        "suppliers": suppliers,
        "rate": sent / elapsed,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "mean": statistics.mean(latencies) * 1000,
        "ceiling": tps,
        "statements": statements,
        "trips": trips,
        "kinds": kinds,
    }


def count_statements(body: bytes) -> tuple[int, int, dict[str, int]]:
    """What one more notice costs (store + process), counted at the driver: SQL statements (by kind)
    and round trips (statements sent together count once; BEGIN and COMMIT, sent by the driver, aside)."""
    from django.db import connection

    from scm.raw_sql import TOGETHER
    from suppliers import inbound

    kinds: dict[str, int] = {}
    trips = 0

    def count(execute, sql, params, many, context):
        nonlocal trips
        trips += 1
        for statement in sql.split(TOGETHER):
            kind = statement.lstrip().split(None, 1)[0].upper()
            kinds[kind] = kinds.get(kind, 0) + 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        message = inbound.inbound_message_store(body=body, source="api")
        message = inbound.inbound_message_process(message_id=message.pk)
    if message.status != "APPLIED":
        raise SystemExit(f"the counted message was not applied: {message.status} {message.errors}")
    return sum(kinds.values()), trips, kinds


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

    scenarios = [(clients, suppliers) for clients in args.clients for suppliers in sorted({clients, 1}, reverse=True)]
    rows = []
    for clients, suppliers in scenarios:
        row = run_scenario(clients, suppliers, args, database_url, own_database)
        rows.append(row)
        tps, rate = row["ceiling"], row["rate"]
        shape = f"{clients} client(s), {suppliers} supplier(s)"
        print(
            f"{shape}: {rate:,.1f} messages/s stored+parsed+applied "
            f"(p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms per message)"
            + (f"; pgbench floor for the same writes {tps:,.0f}/s ({rate / tps:.2f})" if tps else "")
            + f"; {row['statements']} SQL statements in {row['trips']} round trips per notice "
            f"({', '.join(f'{k} {v}' for k, v in sorted(row['kinds'].items()))})",
            flush=True,
        )
        common.report(
            "ingest_856",
            f"856 messages/s, {shape}, {args.lines} lines",
            rate,
            "msg/s",
            ceiling=tps,
            ceiling_name="pgbench same writes/s",
        )
        if len(rows) == 1:
            common.report(
                "ingest_856", f"SQL statements per 856 notice, {args.lines} lines", row["statements"], "statements"
            )
            common.report("ingest_856", f"round trips per 856 notice, {args.lines} lines", row["trips"], "round trips")

    table = "\n".join(
        f"| {r['clients']} | {r['suppliers']} | {r['rate']:,.1f} | {r['p50']:.1f} | {r['p95']:.1f} | "
        f"{r['statements']} in {r['trips']} | "
        + (f"{r['ceiling']:,.0f} | {r['rate'] / r['ceiling']:.2f} |" if r["ceiling"] else "— | — |")
        for r in rows
    )
    section = f"""## Inbound 856 ship notices: stored, parsed and applied

`bench/bench_ingest_856.py --messages {args.messages} --lines {args.lines}`: each message is a distinct X12
interchange with {args.lines} items for its supplier's purchase order, stored raw (committed on its own), then
processed (claims, X12 read and 856 mapping, ship notice, inbound supply per line with ledger rows and
events, the 997, the outcome). Clients are processes, as web and worker processes are; client c sends
supplier c's messages (modulo the suppliers), every supplier its own purchase order and items.

The ceiling is pgbench writing, per message, the same rows into the same tables (their indexes,
constraints and triggers included) in the same two transactions, with the row locks any correct
implementation takes first in the documented order, and no reads and no Python; its clients write to
the same suppliers' rows as the service's clients.

| clients | suppliers | messages/s | p50 ms | p95 ms | statements in round trips | pgbench same writes/s | ratio |
|---:|---:|---:|---:|---:|---:|---:|---:|
{table}

Round trips leave out BEGIN and COMMIT (the driver sends them). One supplier's messages are processed one
at a time: its row is locked first, for the 997's control numbers, and its purchase order's lines and
balances are shared, so four clients of one supplier mostly queue (the floor's clients queue too, for a
shorter time). Different suppliers proceed in parallel up to the event log's append lock.
"""
    if not args.no_write:
        common.write_section("ingest_856", section)
        common.progress("wrote docs/PERFORMANCE.md (section ingest_856)")


if __name__ == "__main__":
    main()
