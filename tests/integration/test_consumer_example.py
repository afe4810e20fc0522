"""examples/consume_events.py, run as another service would run it, against the relay's stream:
a durable consumer that resumes, replay from a log position, replay from a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from scm.bus.models import RelayCheckpoint
from scm.bus.services import relay_checkpoint_set
from scm.events import store
from tests.bus import ROOT, BusNames, delete_stream, poll, relay_env, start_relay, stop

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.timeout(180)]


def consume(url: str, names: BusNames, *args: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "examples/consume_events.py", "--url", url, "--stream", names.stream, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={key: value for key, value in os.environ.items() if key != "NATS_URL"},
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_consumer_example_resumes_replays_from_a_position_and_from_a_time(committed_db, unique, tmp_path):
    url, names = os.environ["TEST_NATS_URL"], BusNames.for_test(unique)
    relay_checkpoint_set(name=names.relay, position=store.head_position())
    first = [store.append_one(f"order-{unique}", "TestEventRecorded", {"n": n}) for n in range(5)]
    relay = start_relay(relay_env(names, url), tmp_path / "relay.log")

    def published():
        head = store.head_position()
        poll(lambda: RelayCheckpoint.objects.get(name=names.relay).position >= head, seconds=30, what="publishing")

    try:
        published()
        got = consume(url, names, "--durable", f"d{unique}", "--max", "3")
        assert [e["event_id"] for e in got] == [str(e.event_id) for e in first[:3]]
        assert got[0] == {
            "position": first[0].position, "event_id": str(first[0].event_id), "stream": f"order-{unique}",
            "version": 1, "type": "TestEventRecorded", "trace_id": None,
        }  # fmt: skip

        time.sleep(1.1)  # JetStream's message times are what --since compares with
        since = datetime.now(UTC).isoformat()
        time.sleep(0.1)
        second = [store.append_one(f"stock-{unique}@WH", "TestEventRecorded", {"n": n}) for n in range(3)]
        published()
        # The durable consumer resumes after what it acknowledged, and sees the new events too.
        resumed = consume(url, names, "--durable", f"d{unique}", "--idle-exit", "2")
        assert [e["event_id"] for e in resumed] == [str(e.event_id) for e in first[3:] + second]

        from_position = consume(
            url, names, "--durable", f"p{unique}", "--from-position", str(first[2].position), "--idle-exit", "2"
        )
        assert [e["position"] for e in from_position] == [e.position for e in first[3:] + second]

        from_time = consume(url, names, "--durable", f"t{unique}", "--since", since, "--idle-exit", "2")
        assert [e["position"] for e in from_time] == [e.position for e in second]

        only_stock = consume(
            url, names, "--durable", f"s{unique}", "--subject", f"{names.prefix}.stock.>", "--idle-exit", "2"
        )
        assert [e["stream"] for e in only_stock] == [f"stock-{unique}@WH"] * 3
    finally:
        stop(relay)
        delete_stream(url, names.stream)
