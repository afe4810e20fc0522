"""Relay throughput: events read from the log, published to JetStream and acknowledged, per second.

Beside it, in the same run and on the same events:
- the event log's plain `SELECT` stream (a server-side cursor over the same rows): the database's ceiling;
- a raw JetStream publish of the same messages (encoded beforehand, same pipelining, no database):
  NATS's ceiling.
The relay runs in-process with the production settings (batch, in-flight limit), from position 0
to the head, the path `manage.py run_event_relay` takes.

    .venv/bin/python bench/bench_relay.py [--events 200000] [--no-write]

Needs PostgreSQL (BENCH_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres) and a
nats-server with JetStream (BENCH_NATS_URL, default nats://127.0.0.1:4222). It creates and drops
its own database `scm_bench_relay` and its own streams `BENCH_RELAY_*`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import common

NATS_URL = os.environ.get("BENCH_NATS_URL", "nats://127.0.0.1:4222")
STREAM, RAW_STREAM = "BENCH_RELAY_LOG", "BENCH_RELAY_RAW"
PREFIX, RAW_PREFIX = "bench.relay.events", "bench.relay.raw"

GENERATE = """
INSERT INTO events_event (event_id, stream, version, type, schema_version, payload, metadata, occurred_at, recorded_at)
SELECT md5(g::text || 'relay')::uuid, 'order-' || (g %% %(streams)s), g / %(streams)s + 1, 'TestEventRecorded', 1,
       jsonb_build_object('n', g, 'note', 'bench event ' || g),
       jsonb_build_object('correlation_id', md5(g::text), 'actor', 'user:bench',
                          'trace_id', md5(g::text || 't'),
                          'traceparent', '00-' || md5(g::text || 't') || '-' || left(md5(g::text), 16) || '-01'),
       now(), now()
FROM generate_series(%(start)s, %(stop)s) AS g;
"""


def generate(url: str, events: int, streams: int) -> None:
    import psycopg2

    batch = 100_000
    for start in range(0, events, batch):
        stop = min(events, start + batch) - 1
        with psycopg2.connect(url) as connection, connection.cursor() as cursor:
            cursor.execute(GENERATE, {"streams": streams, "start": start, "stop": stop})
        common.progress(f"  generated {stop + 1:,} / {events:,} events")
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("ANALYZE events_event")


def plain_select_stream(url: str) -> tuple[int, float]:
    import psycopg2

    connection = psycopg2.connect(url)
    started = time.perf_counter()
    with connection.cursor(name="plain_stream") as cursor:
        cursor.itersize = 5000
        cursor.execute("SELECT * FROM events_event ORDER BY position")
        count = sum(1 for _ in cursor)
    elapsed = time.perf_counter() - started
    connection.close()
    return count, elapsed


async def fresh_stream(js, name: str, prefix: str) -> None:
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.delete_stream(name)
    except NotFoundError:
        pass
    await js.add_stream(StreamConfig(name=name, subjects=[f"{prefix}.>"], duplicate_window=300))


async def raw_publish(messages, max_in_flight: int) -> float:
    """Publish pre-encoded messages with the relay's pipelining, without the database; seconds."""
    from scm.bus.jetstream import BusSettings, connect
    from scm.bus.publisher import Publisher

    client = await connect(BusSettings(url=NATS_URL, credentials_file="", stream=RAW_STREAM, subject_prefix=""))
    try:
        js = client.jetstream()
        await fresh_stream(js, RAW_STREAM, RAW_PREFIX)
        publisher = Publisher(client, max_in_flight=max_in_flight)
        started = time.perf_counter()
        futures = []
        for offset, message in enumerate(messages):
            headers = {**message.headers, "Nats-Expected-Last-Sequence": str(offset)}
            futures.append(await publisher.publish(message.subject, message.body, headers=headers, stall=30))
        for future in futures:
            await future
        elapsed = time.perf_counter() - started
        stored = (await js.stream_info(RAW_STREAM)).state.messages
        await js.delete_stream(RAW_STREAM)
    finally:
        await client.close()
    if stored != len(messages):
        raise SystemExit(f"raw publish stored {stored} of {len(messages)} messages")
    return elapsed


async def relay_run(head: int) -> float:
    """Run the relay from position 0 until its checkpoint reaches `head`; seconds."""
    from scm.bus.jetstream import BusSettings, connect
    from scm.bus.models import RelayCheckpoint
    from scm.bus.relay import Relay

    client = await connect(BusSettings(url=NATS_URL, credentials_file="", stream=STREAM, subject_prefix=""))
    try:
        await fresh_stream(client.jetstream(), STREAM, PREFIX)
    finally:
        await client.close()
    relay = Relay()
    stop = asyncio.Event()

    async def watch():
        while True:
            await asyncio.sleep(0.05)
            position = await asyncio.to_thread(lambda: RelayCheckpoint.objects.get(name="bench").position)
            if position >= head:
                stop.set()
                return

    started = time.perf_counter()
    watcher = asyncio.create_task(watch())
    await relay.run(stop)
    elapsed = time.perf_counter() - started
    await watcher
    return elapsed


async def relay_stream_count() -> int:
    from scm.bus.jetstream import BusSettings, connect

    client = await connect(BusSettings(url=NATS_URL, credentials_file="", stream=STREAM, subject_prefix=""))
    try:
        js = client.jetstream()
        count = (await js.stream_info(STREAM)).state.messages
        await js.delete_stream(STREAM)
        return count
    finally:
        await client.close()


def main() -> None:
    # Longer than 60 lines on purpose: a benchmark's main reads top to bottom as its protocol
    # (arguments, set-up, warm-up, measurement, the ceiling, the report), in the order it runs.
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    load = "/".join(f"{value:.2f}" for value in os.getloadavg())
    common.progress("preparing database scm_bench_relay")
    url = common.fresh_database("scm_bench_relay")
    common.setup_django(
        url, NATS_URL=NATS_URL, NATS_STREAM=STREAM, NATS_SUBJECT_PREFIX=PREFIX, EVENT_RELAY_NAME="bench"
    )
    from django.conf import settings

    from scm.bus.messages import message_for
    from scm.events.store import head_position, read_until

    common.progress(f"generating {args.events:,} events over {args.streams:,} streams")
    generate(url, args.events, args.streams)
    head = head_position()

    common.progress("ceiling 1: plain SELECT stream of the events")
    rows, select_seconds = plain_select_stream(url)
    common.progress("ceiling 2: raw JetStream publish of the same messages (encoded beforehand)")
    from django.utils import timezone

    messages = [message_for(event, prefix=RAW_PREFIX) for event in read_until(timezone.now(), by="recorded_at")]
    raw_seconds = asyncio.run(raw_publish(messages, settings.EVENT_RELAY_MAX_IN_FLIGHT))
    common.progress("relay: from position 0 to the head")
    relay_seconds = asyncio.run(relay_run(head))
    published = asyncio.run(relay_stream_count())
    if published != args.events:
        raise SystemExit(f"the relay's stream holds {published} messages, expected {args.events}")

    relay_rate, select_rate, raw_rate = args.events / relay_seconds, rows / select_seconds, len(messages) / raw_seconds
    options = f"batch {settings.EVENT_RELAY_BATCH}, {settings.EVENT_RELAY_MAX_IN_FLIGHT} in flight"
    common.report("event relay", f"{args.events:,} events, {options}", relay_rate, "events/s", raw_rate,
                  "raw JetStream publish msg/s")  # fmt: skip
    common.report("event relay", "log read alone (plain SELECT stream)", select_rate, "rows/s")
    print(
        f"relay: {args.events:,} events in {relay_seconds:.1f}s = {relay_rate:,.0f} events/s published and "
        f"acknowledged; raw JetStream publish {raw_rate:,.0f} msg/s; plain SELECT stream {select_rate:,.0f} rows/s",
        flush=True,
    )
    raw_ratio, select_ratio = raw_rate / relay_rate, select_rate / relay_rate
    section = f"""## Event relay to NATS JetStream (issue 15)

`{args.events:,}` events over {args.streams:,} streams (metadata with correlation id and traceparent, as
in production), relayed from position 0 to the head by the relay in-process with the production settings
({options}): read from the log by position, encoded, published with `Nats-Msg-Id` and
`Nats-Expected-Last-Sequence`, acknowledged, checkpoint saved per batch. nats-server and PostgreSQL on
loopback, single node, file storage. Load average before the run: {load} (1/5/15 min).

| path | rate | ratio to the relay |
|---|---:|---:|
| relay: read, publish, acknowledged, checkpoint | {relay_rate:,.0f} events/s | 1.00 |
| raw JetStream publish, same messages (pre-encoded, same pipelining, no DB) | {raw_rate:,.0f} msg/s | {raw_ratio:.2f} |
| plain `SELECT` stream of the same rows (server-side cursor) | {select_rate:,.0f} rows/s | {select_ratio:.2f} |

What bounds the relay: it is one Python process, and turning rows into events (ORM rows, upcasting)
and events into JSON messages costs about as much CPU as publishing them; it reads the next batch while
the current one waits for its acknowledgements, so the database read overlaps the publishing. The raw
publish is the most one Python client gets from this nats-server with the same pipelining.

Reproduce: `.venv/bin/python bench/bench_relay.py --events {args.events}`.
"""
    if not args.no_write:
        common.write_section("relay", section)


if __name__ == "__main__":
    main()
