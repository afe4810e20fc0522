"""The event store's contract: appends, versions, schemas, readers, upcasting, immutability."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scm.events import store
from scm.events.context import event_context
from scm.events.exceptions import (
    AppendOnlyViolation,
    ConcurrencyError,
    EventValidationError,
    UnknownEventType,
)
from scm.events.models import Event
from scm.events.store import NO_STREAM, NewEvent

pytestmark = pytest.mark.django_db


def sample(n: int, **extra) -> NewEvent:
    return NewEvent(type="TestEventRecorded", payload={"n": n}, **extra)


def test_append_numbers_versions_and_positions_in_order(unique):
    stream = f"test-{unique}"
    first = store.append(stream, [sample(1), sample(2)], expected_version=NO_STREAM)
    second = store.append(stream, [sample(3)], expected_version=2)

    assert [e.version for e in first + second] == [1, 2, 3]
    positions = [e.position for e in first + second]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert [e.payload["n"] for e in store.read_stream(stream)] == [1, 2, 3]
    assert store.stream_version(stream) == 3


def test_stale_expected_version_raises_and_writes_nothing(unique):
    stream = f"test-{unique}"
    store.append(stream, [sample(1)], expected_version=NO_STREAM)

    with pytest.raises(ConcurrencyError) as raised:
        store.append(stream, [sample(2), sample(3)], expected_version=0)

    assert raised.value.actual_version == 1 and raised.value.expected_version == 0
    assert Event.objects.filter(stream=stream).count() == 1


def test_payload_breaking_its_schema_names_the_field_and_writes_nothing(unique):
    stream = f"test-{unique}"
    with pytest.raises(EventValidationError) as raised:
        store.append(stream, [sample(1), NewEvent(type="TestEventRecorded", payload={"n": "seven"})])

    assert raised.value.field == "n"
    assert "is not of type 'integer'" in str(raised.value)
    assert not Event.objects.filter(stream=stream).exists()


def test_append_streams_appends_to_several_streams_in_one_call_as_appends_in_a_row_would(unique):
    # Runs on both databases: one scm_append_events_many round trip on PostgreSQL, appends from Python on SQLite.
    left, right = f"test-{unique}-a", f"test-{unique}-b"
    store.append(left, [sample(0)])

    recorded = store.append_streams([(left, [sample(1), sample(2)]), (right, [sample(3)]), (left, [sample(4)])])

    assert [[(e.stream, e.version, e.payload["n"]) for e in batch] for batch in recorded] == [
        [(left, 2, 1), (left, 3, 2)],
        [(right, 1, 3)],
        [(left, 4, 4)],
    ]
    positions = [e.position for batch in recorded for e in batch]
    assert positions == sorted(positions) and len(set(positions)) == 4
    assert [(e.version, e.payload["n"]) for e in store.read_stream(left)] == [(1, 0), (2, 1), (3, 2), (4, 4)]
    assert [e.position for e in store.read_stream(right)] == [recorded[1][0].position]
    assert store.append_streams([(left, [])]) == [[]]


def test_append_streams_with_a_payload_breaking_its_schema_writes_nothing(unique):
    left, right = f"test-{unique}-a", f"test-{unique}-b"
    with pytest.raises(EventValidationError) as raised:
        store.append_streams([(left, [sample(1)]), (right, [NewEvent(type="TestEventRecorded", payload={"n": "x"})])])

    assert raised.value.field == "n"
    assert not Event.objects.filter(stream__in=[left, right]).exists()


def test_missing_required_field_is_reported_on_the_payload(unique):
    with pytest.raises(EventValidationError) as raised:
        store.append(f"test-{unique}", [NewEvent(type="TestEventRecorded", payload={})])
    assert "'n' is a required property" in str(raised.value)


def test_unknown_event_type_is_refused(unique):
    with pytest.raises(UnknownEventType):
        store.append(f"test-{unique}", [NewEvent(type="NoSuchThingHappened", payload={})])


def test_metadata_comes_from_the_context_and_the_event(unique):
    stream = f"test-{unique}"
    with event_context(correlation_id="corr-1", actor="user:ann"):
        with event_context(causation_id="cause-9"):
            recorded = store.append(stream, [sample(1, metadata={"source_message_id": 5})])[0]

    assert recorded.metadata == {
        "correlation_id": "corr-1",
        "causation_id": "cause-9",
        "actor": "user:ann",
        "source_message_id": 5,
    }
    assert store.append(stream, [sample(2)])[0].metadata == {}


def test_recorded_events_refuse_save_and_delete(unique):
    store.append(f"test-{unique}", [sample(1)])
    row = Event.objects.get(stream=f"test-{unique}")

    row.payload = {"n": 99}
    with pytest.raises(AppendOnlyViolation):
        row.save()
    with pytest.raises(AppendOnlyViolation):
        row.delete()
    with pytest.raises(AppendOnlyViolation):
        Event.objects.filter(stream=f"test-{unique}").update(type="Changed")
    with pytest.raises(AppendOnlyViolation):
        Event.objects.filter(stream=f"test-{unique}").delete()
    assert Event.objects.get(stream=f"test-{unique}").payload == {"n": 1}


def test_read_all_follows_the_log_by_position_with_filters(unique):
    a, b = f"test-a-{unique}", f"test-b-{unique}"
    start = store.head_position()
    store.append(a, [sample(1)])
    store.append(b, [sample(2)])
    store.append(a, [sample(3)])

    page = store.read_all(after=start, limit=2)
    rest = store.read_all(after=page[-1].position, limit=10)
    assert [e.payload["n"] for e in page + rest] == [1, 2, 3]
    assert [e.payload["n"] for e in store.read_all(after=start, stream=a)] == [1, 3]
    assert store.read_all(after=start, types=["TestSampleUpcast"]) == []


def test_read_until_answers_by_occurrence_and_by_knowledge(unique):
    stream = f"test-{unique}"
    now = timezone.now()
    store.append(stream, [sample(1, occurred_at=now - timedelta(days=3))])
    store.append(stream, [sample(2, occurred_at=now - timedelta(days=1))])
    # Learned today about something that happened two days ago.
    store.append(stream, [sample(3, occurred_at=now - timedelta(days=2))])

    happened = [e.payload["n"] for e in store.read_until(now - timedelta(days=2), stream=stream)]
    known_an_hour_ago = list(store.read_until(now - timedelta(hours=1), by="recorded_at", stream=stream))
    assert happened == [1, 3]
    assert known_an_hour_ago == []


def test_old_payloads_are_upcast_on_read(unique):
    stream = f"test-{unique}"
    Event.objects.create(
        stream=stream, version=1, type="TestSampleUpcast", schema_version=1, payload={"name": "Ada Lovelace"}
    )
    store.append(stream, [NewEvent(type="TestSampleUpcast", payload={"first_name": "Alan", "last_name": "Turing"})])

    old, new = store.read_stream(stream)
    assert (old.schema_version, old.payload) == (2, {"first_name": "Ada", "last_name": "Lovelace"})
    assert (new.schema_version, new.payload) == (2, {"first_name": "Alan", "last_name": "Turing"})
    assert Event.objects.get(stream=stream, version=1).payload == {"name": "Ada Lovelace"}


def test_appending_a_v1_payload_after_the_type_evolved_is_refused(unique):
    with pytest.raises(EventValidationError):
        store.append(f"test-{unique}", [NewEvent(type="TestSampleUpcast", payload={"name": "Ada"})])


def test_every_event_schema_has_the_fast_validator_and_it_agrees_with_the_python_one():
    # The write path confirms valid payloads with jsonschema_rs and asks Python jsonschema only on a "no"
    # (scm/events/schemas.py): every schema must compile there, or appends silently fall back to slow.
    from scm.events import schemas

    for event_type in schemas.known_event_types():
        version = schemas.current_version(event_type)
        assert schemas._fast_validator(event_type, version) is not None, event_type
    assert schemas._surely_valid("TestEventRecorded", 1, {"n": 1})
    assert not schemas._surely_valid("TestEventRecorded", 1, {"n": "seven"})
