"""Subscribers follow the log from a stored checkpoint; failures are recorded and retried."""

from __future__ import annotations

import pytest

from scm.events import store, subscriptions
from scm.events.models import Subscription
from scm.events.store import NewEvent

pytestmark = pytest.mark.django_db


def append_numbers(stream: str, numbers: list[int]) -> None:
    for n in numbers:
        store.append(stream, [NewEvent(type="TestEventRecorded", payload={"n": n})])


def make_subscriber(name: str, stream: str, seen: list[int], fail_on: set[int] | None = None):
    def handler(event):
        if event.stream != stream:
            return
        if fail_on and event.payload["n"] in fail_on:
            raise RuntimeError(f"cannot handle {event.payload['n']}")
        seen.append(event.payload["n"])

    return subscriptions.Subscriber(name=name, handler=handler, types=frozenset({"TestEventRecorded"}))


def test_subscriber_receives_events_in_order_and_resumes_from_its_checkpoint(unique):
    stream, seen = f"sub-{unique}", []
    subscriber = make_subscriber(f"test-{unique}", stream, seen)
    Subscription.objects.create(name=subscriber.name, checkpoint=store.head_position())
    append_numbers(stream, [1, 2, 3])

    subscriptions.process(subscriber)
    append_numbers(stream, [4])
    subscriptions.process(subscriber)
    subscriptions.process(subscriber)

    assert seen == [1, 2, 3, 4]
    assert Subscription.objects.get(name=subscriber.name).checkpoint == store.head_position()


def test_failing_handler_stops_at_the_event_records_why_and_retries_it(unique):
    stream, seen, broken = f"sub-{unique}", [], {2}
    subscriber = make_subscriber(f"test-{unique}", stream, seen, fail_on=broken)
    Subscription.objects.create(name=subscriber.name, checkpoint=store.head_position())
    append_numbers(stream, [1, 2, 3])

    result = subscriptions.process(subscriber)
    state = Subscription.objects.get(name=subscriber.name)
    assert seen == [1]
    assert "cannot handle 2" in result.error and "cannot handle 2" in state.last_error
    assert state.failure_count == 1 and state.failed_position is not None

    broken.clear()
    subscriptions.process(subscriber)
    state.refresh_from_db()
    assert seen == [1, 2, 3]
    assert (state.last_error, state.failed_position, state.failure_count) == ("", None, 0)


def test_handler_writes_roll_back_with_its_failure(unique):
    stream = f"sub-{unique}"

    def handler(event):
        if event.stream == stream:
            store.append(f"{stream}-derived", [NewEvent(type="TestEventRecorded", payload={"n": 0})])
            raise RuntimeError("after writing")

    subscriber = subscriptions.Subscriber(name=f"test-{unique}", handler=handler)
    Subscription.objects.create(name=subscriber.name, checkpoint=store.head_position())
    append_numbers(stream, [1])

    subscriptions.process(subscriber)
    assert store.read_stream(f"{stream}-derived") == []


def test_lag_counts_positions_behind_the_head(unique):
    name = f"test-{unique}"
    Subscription.objects.create(name=name, checkpoint=store.head_position())
    append_numbers(f"sub-{unique}", [1, 2])
    assert subscriptions.lag(name) == 2
