"""Consume supply chain core's event bus: a durable JetStream pull consumer, in another service.

    python examples/consume_events.py --durable billing            # from the start, then resume
    python examples/consume_events.py --durable billing-2 --from-position 1200
    python examples/consume_events.py --durable audit --since 2026-11-30T08:00:00Z
    python examples/consume_events.py --durable shipping --subject 'scm.events.shipment.>'

It needs only `nats-py` (and, to join traces, `opentelemetry-api`); nothing of the Django project.
Each event is printed as one JSON line and acknowledged after it was handled. What to copy:

- **Durable consumer.** JetStream remembers, under the durable name, what this consumer
  acknowledged; a restart resumes after it. The start options (`--from-position`, `--since`) only
  apply when the durable is created; to start over, delete it (`nats consumer rm`) or use a new name.
- **Acknowledge after handling**, never before. A message not acknowledged within `ack_wait` is
  delivered again, so handling must be idempotent: de-duplicate on the event id (`Nats-Msg-Id`),
  e.g. a unique key in your own database written in the same transaction as the effect. Here a
  bounded in-memory set stands in for it.
- **Order.** The stream holds the log in position order (so each stream's events in version order);
  one consumer that handles a message before fetching the next sees that order. Parallel handlers
  should partition by the `Scm-Stream` header to keep per-stream order.
- **Replay from a position.** Log positions are not JetStream sequences, but both grow together in
  this stream, so the first sequence after a position is found by binary search (`get_msg`).
- **Replay from a time.** `--since` starts at the first message JetStream stored at or after that
  instant (when the relay published it: shortly after the event was recorded).
- **Traces.** The `traceparent` header carries the trace of the request that caused the event;
  handling under it makes this consumer's spans part of that trace.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import OrderedDict
from datetime import datetime

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("NATS_URL", "nats://127.0.0.1:4222"))
    parser.add_argument("--stream", default=os.environ.get("NATS_STREAM", "SCM_EVENTS"))
    parser.add_argument("--subject", default="", help="filter, e.g. 'scm.events.order.>' (default: the whole stream)")
    parser.add_argument("--durable", required=True, help="consumer name; a restart resumes where it left off")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--from-position", type=int, default=None, help="start after this log position")
    start.add_argument("--since", type=datetime.fromisoformat, default=None, help="start at this time (ISO 8601)")
    parser.add_argument("--max", type=int, default=0, help="stop after this many events (0: run until stopped)")
    parser.add_argument("--idle-exit", type=float, default=0, help="stop after this many seconds without events")
    return parser.parse_args(argv)


async def first_sequence_after(js, stream: str, position: int) -> int:
    """The stream sequence of the first message whose Scm-Position is above `position`."""
    state = (await js.stream_info(stream)).state
    low, high = state.first_seq, state.last_seq + 1  # the answer lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        try:
            message = await js.get_msg(stream, seq=middle)
        except NotFoundError:  # aged out from the front of the stream since we asked: it was older
            low = middle + 1
            continue
        if int(message.headers["Scm-Position"]) <= position:
            low = middle + 1
        else:
            high = middle
    return low


async def consumer_config(js, args: argparse.Namespace) -> ConsumerConfig:
    config = ConsumerConfig(durable_name=args.durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=1000)
    if args.subject:
        config.filter_subject = args.subject
    if args.from_position is not None:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = await first_sequence_after(js, args.stream, args.from_position)
    elif args.since is not None:
        config.deliver_policy = DeliverPolicy.BY_START_TIME
        config.opt_start_time = args.since
    else:
        config.deliver_policy = DeliverPolicy.ALL
    return config


def handle(event: dict, headers: dict[str, str]) -> None:
    """Your work goes here. This one prints the event, with the trace it belongs to."""
    traceparent = headers.get("traceparent", "")
    print(
        json.dumps(
            {
                "position": event["position"],
                "event_id": event["event_id"],
                "stream": event["stream"],
                "version": event["version"],
                "type": event["type"],
                "trace_id": traceparent.split("-")[1] if traceparent.count("-") == 3 else None,
            }
        ),
        flush=True,
    )


def in_trace(headers: dict[str, str]):
    """A consumer span under the event's trace (a no-op unless this service configured OpenTelemetry)."""
    try:
        from opentelemetry import trace
        from opentelemetry.propagate import extract
    except ImportError:
        from contextlib import nullcontext

        return nullcontext()
    tracer = trace.get_tracer("consume_events")
    return tracer.start_as_current_span(
        f"consume {headers.get('Scm-Event-Type', 'event')}", context=extract(headers), kind=trace.SpanKind.CONSUMER
    )


async def consume(args: argparse.Namespace) -> int:
    client = await nats.connect(args.url, name=f"consume-events-{args.durable}")
    seen: OrderedDict[str, None] = OrderedDict()  # stand-in for a unique key in your database
    handled = 0
    idle_since = asyncio.get_running_loop().time()
    try:
        js = client.jetstream()
        subscription = await js.pull_subscribe(
            args.subject, durable=args.durable, stream=args.stream, config=await consumer_config(js, args)
        )
        while not args.max or handled < args.max:
            try:
                messages = await subscription.fetch(batch=min(100, args.max - handled) if args.max else 100, timeout=1)
            except TimeoutError:  # nothing arrived in time (nats-py raises asyncio's or its own subclass)
                if args.idle_exit and asyncio.get_running_loop().time() - idle_since > args.idle_exit:
                    break
                continue
            idle_since = asyncio.get_running_loop().time()
            for message in messages:
                headers = message.headers or {}
                event_id = headers.get("Nats-Msg-Id", "")
                if event_id not in seen:
                    with in_trace(headers):
                        handle(json.loads(message.data), headers)
                    seen[event_id] = None
                    if len(seen) > 100_000:
                        seen.popitem(last=False)
                    handled += 1
                await message.ack()  # after handling: a crash before this means redelivery, not loss
    finally:
        await client.close()
    return handled


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    handled = asyncio.run(consume(args))
    print(f"handled {handled} events", file=sys.stderr)


if __name__ == "__main__":
    main()
