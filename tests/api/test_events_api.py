"""GET /api/v1/events/: the global log by position, with filters, bounds and a consumer following it to the end."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from scm.api.services import integration_user_create
from scm.events import store
from scm.events.store import NewEvent
from scm.roles import PLANNER

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(unique) -> APIClient:
    api = APIClient()
    token = integration_user_create(username=f"reader-{unique}", role=PLANNER).token
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


def append_numbers(stream: str, numbers: list[int], event_type: str = "TestEventRecorded") -> list[int]:
    return [store.append(stream, [NewEvent(type=event_type, payload={"n": n})])[0].position for n in numbers]


def test_anonymous_readers_get_401():
    response = APIClient().get("/api/v1/events/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_event_is_returned_with_every_field_of_the_contract(client, unique):
    stream = f"evt-{unique}"
    before = store.head_position()
    [position] = append_numbers(stream, [5])

    response = client.get(f"/api/v1/events/?after={before}&stream={stream}")
    assert response.status_code == 200
    body = response.json()
    [event] = body["results"]
    recorded = store.read_stream(stream)[0]
    assert event == {
        "position": position,
        "event_id": str(recorded.event_id),
        "stream": stream,
        "version": 1,
        "type": "TestEventRecorded",
        "schema_version": 1,
        "payload": {"n": 5},
        "metadata": recorded.metadata,
        "occurred_at": recorded.occurred_at.isoformat().replace("+00:00", "Z"),
        "recorded_at": recorded.recorded_at.isoformat().replace("+00:00", "Z"),
    }
    assert body["next_after"] == position


def test_after_returns_only_later_events_in_position_order(client, unique):
    stream = f"evt-{unique}"
    positions = append_numbers(stream, [1, 2, 3, 4])
    body = client.get(f"/api/v1/events/?after={positions[1]}&stream={stream}").json()
    assert [e["payload"]["n"] for e in body["results"]] == [3, 4]
    assert [e["position"] for e in body["results"]] == positions[2:]


def test_a_consumer_follows_the_log_page_by_page_to_the_end_and_then_waits_at_next_after(client, unique):
    stream = f"evt-{unique}"
    start = store.head_position()
    positions = append_numbers(stream, list(range(1, 8)))

    seen, after, pages = [], start, 0
    while True:
        body = client.get(f"/api/v1/events/?after={after}&limit=3&stream={stream}").json()
        if not body["results"]:
            assert body["next_after"] == after  # nothing new: keep polling from the same place
            break
        seen += [e["position"] for e in body["results"]]
        after, pages = body["next_after"], pages + 1

    assert seen == positions
    assert pages == 3
    [late] = append_numbers(stream, [8])
    body = client.get(f"/api/v1/events/?after={after}&stream={stream}").json()
    assert [e["position"] for e in body["results"]] == [late]


def test_stream_and_type_filters(client, unique):
    mine, other = f"evt-{unique}", f"evt-other-{unique}"
    start = store.head_position()
    append_numbers(mine, [1])
    append_numbers(other, [2])
    store.append(mine, [NewEvent(type="TestSampleUpcast", payload={"first_name": "Ada", "last_name": "L"})])

    by_stream = client.get(f"/api/v1/events/?after={start}&stream={mine}").json()["results"]
    assert [(e["stream"], e["type"]) for e in by_stream] == [(mine, "TestEventRecorded"), (mine, "TestSampleUpcast")]

    by_type = client.get(f"/api/v1/events/?after={start}&type=TestEventRecorded&limit=1000").json()["results"]
    assert [(e["stream"], e["payload"]) for e in by_type if e["stream"] in (mine, other)] == [
        (mine, {"n": 1}),
        (other, {"n": 2}),
    ]
    assert {e["type"] for e in by_type} == {"TestEventRecorded"}

    both = client.get(f"/api/v1/events/?after={start}&type=TestSampleUpcast&stream={other}").json()
    assert both["results"] == []
    assert both["next_after"] == start


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("after=-1", "after"),
        ("after=1.5", "after"),
        ("after=99999999999999999999", "after"),
    ],
)
def test_out_of_range_or_malformed_parameters_answer_400_naming_the_parameter(client, query, field):
    response = client.get(f"/api/v1/events/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]


def test_limit_bounds_are_inclusive(client, unique):
    stream = f"evt-{unique}"
    append_numbers(stream, [1, 2])
    assert len(client.get(f"/api/v1/events/?limit=1&stream={stream}").json()["results"]) == 1
    assert len(client.get(f"/api/v1/events/?limit=1000&stream={stream}").json()["results"]) == 2
