"""The relay against a real nats-server: what a message looks like, and resuming without
publishing twice. The load and fault tests are in test_event_bus_faults.py."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import nats
import pytest

from scm.bus.jetstream import BusSettings
from scm.bus.models import RelayCheckpoint
from scm.bus.publisher import Publisher
from scm.bus.relay import Relay, RelayOptions
from scm.bus.services import relay_checkpoint_set
from scm.events import store
from scm.events.context import event_context
from scm.events.store import NewEvent
from tests.bus import (
    BusNames,
    delete_stream,
    poll,
    read_stream,
    relay_env,
    run_async,
    start_relay,
    stop,
    stream_state,
)

pytestmark = [pytest.mark.postgres, pytest.mark.nats, pytest.mark.timeout(120)]


@pytest.fixture
def bus(unique):
    names = BusNames.for_test(unique)
    url = os.environ["TEST_NATS_URL"]
    relay_checkpoint_set(name=names.relay, position=store.head_position())
    yield names, url
    delete_stream(url, names.stream)


def caught_up(name: str):
    head = store.head_position()
    return lambda: RelayCheckpoint.objects.get(name=name).position >= head


def test_each_event_becomes_one_message_with_subject_headers_and_body(committed_db, bus, unique, tmp_path):
    names, url = bus
    with event_context(correlation_id=f"corr-{unique}"):
        recorded = store.append(f"purchase-order-PO-{unique}", [NewEvent("TestEventRecorded", {"n": 1})])[0]
    other = store.append(f"stock-SKU {unique}@WH-A", [NewEvent("TestEventRecorded", {"n": 2, "note": "é"})])[0]
    relay = start_relay(relay_env(names, url), tmp_path / "relay.log")
    try:
        poll(caught_up(names.relay), seconds=30, what="the relay to publish")
    finally:
        stop(relay)

    first, second = read_stream(url, names.stream, expect=2)
    assert first.subject == f"{names.prefix}.purchase-order.TestEventRecorded"
    assert second.subject == f"{names.prefix}.stock.TestEventRecorded"
    assert {key: value for key, value in first.headers.items() if key != "Nats-Expected-Last-Sequence"} == {
        "Nats-Msg-Id": str(recorded.event_id),
        "Scm-Position": str(recorded.position),
        "Scm-Stream": f"purchase-order-PO-{unique}",
        "Scm-Version": "1",
        "Scm-Event-Type": "TestEventRecorded",
        "Scm-Schema-Version": "1",
        "Scm-Correlation-Id": f"corr-{unique}",
    }
    body = json.loads(second.data)
    assert body["event_id"] == str(other.event_id)
    assert body["position"] == other.position
    assert (body["stream"], body["version"], body["payload"]) == (f"stock-SKU {unique}@WH-A", 1, {"n": 2, "note": "é"})
    assert body["occurred_at"].endswith("Z")
    assert RelayCheckpoint.objects.get(name=names.relay).published_count == 2


def test_a_relay_that_died_before_saving_its_checkpoint_publishes_nothing_twice(committed_db, bus, unique, tmp_path):
    names, url = bus
    start = store.head_position()
    for n in range(30):
        store.append(f"again-{unique}-{n % 3}", [NewEvent("TestEventRecorded", {"n": n})])
    relay = start_relay(relay_env(names, url), tmp_path / "relay.log")
    try:
        poll(caught_up(names.relay), seconds=30, what="the relay to publish")
    finally:
        stop(relay)
    assert stream_state(url, names.stream).messages == 30

    # As if it had died between JetStream's acknowledgements and its checkpoint write.
    relay_checkpoint_set(name=names.relay, position=start)
    store.append(f"again-{unique}-0", [NewEvent("TestEventRecorded", {"n": 30})])
    relay = start_relay(relay_env(names, url), tmp_path / "relay.log")
    try:
        poll(caught_up(names.relay), seconds=30, what="the restarted relay to catch up")
    finally:
        stop(relay)

    messages = read_stream(url, names.stream, expect=31)
    assert len(messages) == 31
    assert len({m.headers["Nats-Msg-Id"] for m in messages}) == 31
    assert [m.seq for m in messages] == list(range(1, 32))
    assert "bus.relay_resumed_from_stream" in (tmp_path / "relay.log").read_text()


def test_jetstream_drops_a_repeated_event_id_inside_the_duplicate_window(committed_db, bus, unique, tmp_path):
    names, url = bus
    store.append(f"dup-{unique}", [NewEvent("TestEventRecorded", {"n": 1})])
    relay = start_relay(relay_env(names, url), tmp_path / "relay.log")
    try:
        poll(caught_up(names.relay), seconds=30, what="the relay to publish")
    finally:
        stop(relay)
    (published,) = read_stream(url, names.stream, expect=1)

    async def republish():
        client = await nats.connect(url)
        try:
            return await client.jetstream().publish(
                published.subject, published.data, headers={"Nats-Msg-Id": published.headers["Nats-Msg-Id"]}
            )
        finally:
            await client.close()

    ack = run_async(republish())
    assert ack.duplicate is True
    assert stream_state(url, names.stream).messages == 1


class LosingPublisher:
    """A publisher whose n-th message is lost on the way (never reaches the server, never answered)."""

    def __init__(self, publisher, *, lose: int) -> None:
        self.publisher, self.lose, self.calls = publisher, lose, 0

    async def publish(self, subject, body, **kwargs):
        self.calls += 1
        if self.calls == self.lose:
            return asyncio.get_running_loop().create_future()
        return await self.publisher.publish(subject, body, **kwargs)


def test_a_lost_publish_stops_every_later_one_so_the_stream_never_holds_a_gap(committed_db, bus, unique):
    names, url = bus
    events = [store.append_one(f"lost-{unique}", "TestEventRecorded", {"n": n}) for n in range(10)]
    options = RelayOptions(
        name=names.relay,
        batch=10,
        max_in_flight=50,
        ack_timeout=1,
        poll_seconds=0.05,
        backoff_base=0.1,
        backoff_cap=0.2,
    )
    bus_settings = BusSettings(url=url, credentials_file="", stream=names.stream, subject_prefix=names.prefix)

    async def scenario():
        client = await nats.connect(url)
        relay = Relay(options=options, bus=bus_settings)
        try:
            js, publisher = client.jetstream(), Publisher(client, max_in_flight=50)
            await relay._resync(js)
            first = await relay._round(LosingPublisher(publisher, lose=3))
            after_first = (await js.stream_info(names.stream)).state.messages
            await relay._resync(js)
            second = await relay._round(publisher)
            return first, after_first, second, relay.checkpoint
        finally:
            await relay.close()
            await client.close()

    first, after_first, second, checkpoint = run_async(scenario())
    # Messages 4..10 were sent behind the lost 3rd; JetStream refused them (wrong last sequence).
    assert (first.acked, after_first) == (2, 2)
    assert isinstance(first.error, TimeoutError)  # the lost one's missing answer ends the run
    assert second.acked == 8 and second.error is None
    assert checkpoint == events[-1].position
    messages = read_stream(url, names.stream, expect=10)
    assert [int(m.headers["Scm-Position"]) for m in messages] == [e.position for e in events]


def test_a_second_relay_stands_by_and_takes_over_when_the_first_dies(committed_db, bus, unique, tmp_path):
    names, url = bus
    env = relay_env(names, url)
    first = start_relay(env, tmp_path / "first.log")
    second = None
    try:
        store.append_one(f"standby-{unique}", "TestEventRecorded", {"n": 0})
        poll(caught_up(names.relay), seconds=30, what="the first relay to publish")
        second = start_relay(env, tmp_path / "second.log")
        poll(lambda: "bus.relay_standby" in (tmp_path / "second.log").read_text(), seconds=30, what="a standby")
        for n in range(1, 21):
            store.append_one(f"standby-{unique}", "TestEventRecorded", {"n": n})
        poll(caught_up(names.relay), seconds=30, what="the first relay to publish more")
        assert "bus.relay_started" not in (tmp_path / "second.log").read_text()

        stop(first, signal.SIGKILL)  # its database session ends, and with it the lock
        for n in range(21, 41):
            store.append_one(f"standby-{unique}", "TestEventRecorded", {"n": n})
        poll(caught_up(names.relay), seconds=30, what="the standby to take over")
    finally:
        stop(first)
        stop(second)
    assert "bus.relay_started" in (tmp_path / "second.log").read_text()
    messages = read_stream(url, names.stream, expect=41)
    assert [json.loads(m.data)["payload"]["n"] for m in messages] == list(range(41))
