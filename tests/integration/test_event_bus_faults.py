"""The relay under load and faults, against real nats-servers and a real relay process:
10,000 events from 8 concurrent writers; the relay killed mid-stream; NATS stopped and started."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import defaultdict

import pytest
from django.db import connection, transaction

from scm.bus.models import RelayCheckpoint
from scm.bus.services import relay_checkpoint_set
from scm.events import store
from scm.events.models import Event
from scm.events.store import NewEvent
from tests.bus import (
    BusNames,
    PrivateNats,
    Received,
    delete_stream,
    poll,
    read_stream,
    relay_env,
    start_relay,
    stop,
)
from tests.concurrency import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.slow]

WRITERS = 8


def write_events(prefix: str, *, writer: int, count: int, per_transaction: int = 5, streams: int = 10) -> None:
    """`count` events in transactions of `per_transaction`, spread over this writer's streams."""
    for start in range(0, count, per_transaction):
        stream = f"{prefix}-w{writer}-s{(start // per_transaction) % streams}"
        with transaction.atomic():
            store.append(
                stream,
                [NewEvent("TestEventRecorded", {"n": n}) for n in range(start, min(count, start + per_transaction))],
            )


def assert_exactly_once_in_order(received: list[Received], prefix: str) -> None:
    """Every event of the streams under `prefix` once, each stream's versions 1, 2, 3... in stream order."""
    ours = [m for m in received if m.headers["Scm-Stream"].startswith(prefix)]
    expected = set(Event.objects.filter(stream__startswith=prefix).values_list("event_id", flat=True))
    ids = [m.headers["Nats-Msg-Id"] for m in ours]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert set(ids) == {str(event_id) for event_id in expected}, "events missing from the stream"
    versions: dict[str, list[int]] = defaultdict(list)
    for message in ours:
        versions[message.headers["Scm-Stream"]].append(int(message.headers["Scm-Version"]))
    for stream, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{stream} out of order: {seen[:20]}"
    positions = [int(m.headers["Scm-Position"]) for m in ours]
    assert positions == sorted(positions)
    assert all(json.loads(m.data)["event_id"] == m.headers["Nats-Msg-Id"] for m in ours[:50])


@pytest.fixture
def bus(unique):
    names = BusNames.for_test(unique)
    relay_checkpoint_set(name=names.relay, position=store.head_position())
    return names


def caught_up(name: str):
    head = store.head_position()
    return lambda: RelayCheckpoint.objects.get(name=name).position >= head


@pytest.mark.timeout(240)
def test_ten_thousand_events_from_eight_writers_arrive_once_each_in_version_order(committed_db, bus, unique, tmp_path):
    url = os.environ["TEST_NATS_URL"]
    prefix = f"bus10k-{unique}"
    relay = start_relay(relay_env(bus, url), tmp_path / "relay.log")
    try:
        # The relay follows the log while the writers commit, so late commits are exercised too.
        run_threads(WRITERS, lambda writer: write_events(prefix, writer=writer, count=10_000 // WRITERS))
        assert Event.objects.filter(stream__startswith=prefix).count() == 10_000
        poll(caught_up(bus.relay), seconds=120, what="the relay to publish 10,000 events", interval=0.5)
        received = read_stream(url, bus.stream, expect=10_000, seconds=60)
    finally:
        stop(relay)
        delete_stream(url, bus.stream)
    assert len(received) == 10_000
    assert_exactly_once_in_order(received, prefix)
    assert RelayCheckpoint.objects.get(name=bus.relay).published_count == 10_000


@pytest.mark.timeout(240)
def test_relay_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(committed_db, bus, unique, tmp_path):
    url = os.environ["TEST_NATS_URL"]
    prefix = f"buskill-{unique}"
    start = store.head_position()
    log = tmp_path / "relay.log"
    # Small batches and a slow poll spread publishing over many rounds, so the kill lands mid-stream.
    env = relay_env(bus, url, EVENT_RELAY_BATCH="50", EVENT_RELAY_MAX_IN_FLIGHT="20")
    writers = threading.Thread(
        target=lambda: run_threads(4, lambda writer: write_events(prefix, writer=writer, count=1500)), daemon=True
    )
    relay = start_relay(env, log)
    try:
        writers.start()
        poll(
            lambda: RelayCheckpoint.objects.get(name=bus.relay).position > start + 500,
            seconds=60,
            what="the relay to be well into the log",
        )
        stop(relay, signal.SIGKILL)
        killed_at = RelayCheckpoint.objects.get(name=bus.relay).position
        writers.join(timeout=120)
        assert not writers.is_alive()
        assert killed_at < store.head_position(), "the relay finished before it was killed"
        relay = start_relay(env, log)
        poll(caught_up(bus.relay), seconds=120, what="the restarted relay to catch up", interval=0.5)
        received = read_stream(url, bus.stream, expect=6000, seconds=60)
    finally:
        stop(relay)
        delete_stream(url, bus.stream)
        connection.close()
    assert len(received) == 6000
    assert_exactly_once_in_order(received, prefix)


@pytest.mark.timeout(240)
def test_nats_stopped_and_started_relay_catches_up_and_readiness_reports_the_lag(
    committed_db, bus, unique, tmp_path, client, settings
):
    nats_server = PrivateNats(tmp_path / "jetstream")
    nats_server.start()
    prefix = f"busdown-{unique}"
    relay = start_relay(relay_env(bus, nats_server.url), tmp_path / "relay.log")
    settings.NATS_URL = nats_server.url
    settings.EVENT_RELAY_NAME = bus.relay
    settings.READINESS_MAX_RELAY_LAG = 0
    try:
        write_events(prefix, writer=0, count=200)
        poll(caught_up(bus.relay), seconds=60, what="the relay to publish before the outage")
        assert client.get("/readyz").status_code == 200

        nats_server.stop()
        write_events(prefix, writer=1, count=300)
        # The relay keeps failing while NATS is away, and the probe says so.
        poll(
            lambda: RelayCheckpoint.objects.get(name=bus.relay).error_count > 0,
            seconds=30,
            what="the relay to record a failed round",
        )
        response = client.get("/readyz")
        assert response.status_code == 503
        problem = response.json()["checks"]["event_relay"]
        assert problem.startswith(f"event relay {bus.relay} is ")
        assert "positions behind (more than 0); last error: " in problem
        lag = int(problem.split(" is ")[1].split(" ")[0])
        assert lag >= 300

        nats_server.start()  # same port, same storage: the stream survives
        poll(caught_up(bus.relay), seconds=60, what="the relay to catch up after NATS came back")
        assert client.get("/readyz").status_code == 200
        received = read_stream(nats_server.url, bus.stream, expect=500, seconds=30)
    finally:
        stop(relay)
        nats_server.stop()
    assert len(received) == 500
    assert_exactly_once_in_order(received, prefix)
    assert "bus.relay_round_failed" in (tmp_path / "relay.log").read_text()


@pytest.mark.timeout(180)
def test_relay_started_while_nats_is_down_reports_it_stops_on_request_and_publishes_once_nats_is_up(
    committed_db, bus, unique, tmp_path
):
    nats_server = PrivateNats(tmp_path / "jetstream")  # not started yet
    prefix = f"busnone-{unique}"
    write_events(prefix, writer=0, count=50)
    env = relay_env(bus, nats_server.url)
    relay = start_relay(env, tmp_path / "relay.log")
    try:
        poll(
            lambda: RelayCheckpoint.objects.get(name=bus.relay).error_count > 0,
            seconds=40,
            what="the relay to record that NATS does not answer",
        )
        assert "no NATS server at" in RelayCheckpoint.objects.get(name=bus.relay).last_error
        os.killpg(relay.pid, signal.SIGTERM)
        assert relay.wait(timeout=20) == 0  # a stop request is honoured while NATS is away

        relay = start_relay(env, tmp_path / "relay.log")
        nats_server.start()
        poll(caught_up(bus.relay), seconds=60, what="the relay to publish once NATS is up")
        received = read_stream(nats_server.url, bus.stream, expect=50, seconds=30)
    finally:
        stop(relay)
        nats_server.stop()
    assert len(received) == 50
    assert_exactly_once_in_order(received, prefix)
