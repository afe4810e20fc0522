"""The event log's guarantees under PostgreSQL: immutability in the database, optimistic
concurrency between real connections, and a follower that never skips a late commit."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from scm.events import store, subscriptions
from scm.events.exceptions import ConcurrencyError
from scm.events.models import Event, Subscription
from scm.events.store import NO_STREAM, NewEvent

pytestmark = pytest.mark.postgres


def sample(n: int) -> NewEvent:
    return NewEvent(type="TestEventRecorded", payload={"n": n})


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events_event SET type = 'Changed' WHERE stream = %s",
        "DELETE FROM events_event WHERE stream = %s",
        "TRUNCATE events_event CASCADE",
    ],
)
def test_database_rejects_changes_to_recorded_events(statement, unique):
    stream = f"raw-{unique}"
    store.append(stream, [sample(1)])

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [stream] if "%s" in statement else [])

    assert Event.objects.filter(stream=stream, type="TestEventRecorded").count() == 1


def test_two_concurrent_appends_with_the_same_expected_version_one_wins(committed_db, unique):
    stream = f"race-{unique}"
    store.append(stream, [sample(0)], expected_version=NO_STREAM)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(n: int) -> None:
        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                store.append(stream, [sample(n)], expected_version=1)
            outcomes.append("ok")
        except ConcurrencyError:
            outcomes.append("stale")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["ok", "stale"]
    assert [e.version for e in store.read_stream(stream)] == [1, 2]


def test_follower_sees_every_event_once_in_position_order_while_8_threads_append(committed_db, unique):
    prefix = f"follow-{unique}-"
    writers, per_writer = 8, 40
    seen: list[tuple[int, str, int]] = []

    def handler(event):
        if event.stream.startswith(prefix):
            seen.append((event.position, event.stream, event.payload["n"]))

    subscriber = subscriptions.Subscriber(name=f"follower-{unique}", handler=handler)
    Subscription.objects.create(name=subscriber.name, checkpoint=store.head_position())
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def write(index: int) -> None:
        rng = random.Random(index)
        try:
            for n in range(per_writer):
                with transaction.atomic():
                    store.append(f"{prefix}{index}", [sample(n)])
                    # Hold the transaction open after the append, so commits land late and
                    # out of step with the follower's reads.
                    time.sleep(rng.random() * 0.002)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    def follow() -> None:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                finished = writers_done.is_set()
                subscriptions.process(subscriber, batch_size=50)
                if finished and len(seen) >= writers * per_writer:
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    follower = threading.Thread(target=follow)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    writers_done.set()
    follower.join(timeout=120)

    assert errors == []
    positions = [position for position, _, _ in seen]
    assert positions == sorted(positions), "events were not delivered in position order"
    assert len(positions) == len(set(positions)) == writers * per_writer
    committed = set(Event.objects.filter(stream__startswith=prefix).values_list("position", flat=True))
    assert set(positions) == committed
    for index in range(writers):
        numbers = [n for _, stream, n in seen if stream == f"{prefix}{index}"]
        assert numbers == list(range(per_writer))
