"""One correlation id from the HTTP request into log lines, events and the Celery tasks it starts.

The test-only views below live in this module's own urlconf (`pytest.mark.urls(__name__)`). The
tasks are also used by test_observability_worker.py, whose real Celery worker imports this module.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
import structlog
from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.urls import path
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

import tests.event_types  # noqa: F401 - a worker started with --include loads this module: it needs them too
from scm.events.context import current_correlation_id, event_context
from scm.events.store import append_one, read_stream
from scm.observability.logging import configure

log = structlog.get_logger("tests.observability")

# --- Test-only tasks ---------------------------------------------------------------------------


@shared_task(name="tests.observability.record_event")
def record_event(stream: str, n: int) -> None:
    log.info("test.task.ran", stream=stream)
    append_one(stream, "TestEventRecorded", {"n": n, "note": "from task"})


@shared_task(name="tests.observability.fail")
def fail_task(reason: str) -> None:
    raise RuntimeError(reason)


@shared_task(name="tests.observability.retry_once", bind=True, max_retries=1)
def retry_once(self) -> str:
    if self.request.retries < 1:
        raise self.retry(countdown=0)
    return "done"


# --- Test-only views and their urlconf --------------------------------------------------------


class RecordView(APIView):
    """Appends one event and starts a task, like a real API door would."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request):
        stream = request.data["stream"]
        log.info("test.view.appending", stream=stream)
        append_one(stream, "TestEventRecorded", {"n": 1, "note": "from view"})
        record_event.delay(stream, 2)
        return Response({"request_id": current_correlation_id()})


class ExplicitActorView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request):
        with event_context(actor="system:importer"):
            append_one(request.data["stream"], "TestEventRecorded", {"n": 1})
        return Response({})


@login_required
def session_view(request):
    """A plain Django view: the session user, not DRF, is the actor."""
    append_one(request.GET["stream"], "TestEventRecorded", {"n": 1})
    return JsonResponse({})


urlpatterns = [
    path("observability-test/record/", RecordView.as_view(), name="obs-test-record"),
    path("observability-test/explicit-actor/", ExplicitActorView.as_view(), name="obs-test-explicit"),
    path("observability-test/session/", session_view, name="obs-test-session"),
]

# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """Everything the root handler writes during the test, parsed (JSON format forced)."""
    buffer = io.StringIO()
    configure(log_format="json", level="INFO", stream=buffer)
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    finally:
        configure(log_format=settings.LOG_FORMAT, level=settings.LOG_LEVEL)


@pytest.fixture
def api_user(db, unique):
    user = get_user_model().objects.create_user(username=f"obs-{unique}", password="pw-" + unique)
    return user, Token.objects.create(user=user).key


def lines_with(lines: list[dict], event: str) -> list[dict]:
    return [line for line in lines if line.get("event") == event]


# --- Tests ------------------------------------------------------------------------------------

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def test_request_id_reaches_request_logs_events_task_logs_and_task_events(client, api_user, unique, log_lines):
    user, token = api_user
    stream = f"obs-{unique}"

    response = client.post(
        "/observability-test/record/",
        {"stream": stream},
        content_type="application/json",
        HTTP_X_REQUEST_ID="abc",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 200
    assert response["X-Request-ID"] == "abc"
    assert response.json() == {"request_id": "abc"}

    events = read_stream(stream)
    assert [(e.payload["note"], e.metadata) for e in events] == [
        ("from view", {"correlation_id": "abc", "actor": f"user:{user.username}"}),
        ("from task", {"correlation_id": "abc", "actor": f"user:{user.username}"}),
    ]

    lines = log_lines()
    [view_line] = lines_with(lines, "test.view.appending")
    assert view_line["request_id"] == "abc" and view_line["stream"] == stream
    assert "task_id" not in view_line

    [task_line] = lines_with(lines, "test.task.ran")
    assert task_line["request_id"] == "abc"
    assert task_line["task_name"] == "tests.observability.record_event"
    assert len(task_line["task_id"]) == 36

    [request_line] = lines_with(lines, "http.request")
    assert {key: request_line[key] for key in ("request_id", "method", "route", "status", "actor", "logger")} == {
        "request_id": "abc",
        "method": "POST",
        "route": "observability-test/record/",
        "status": 200,
        "actor": f"user:{user.username}",
        "logger": "scm.request",
    }
    assert all(line.get("request_id") == "abc" for line in lines), lines


def test_nothing_of_the_request_or_task_context_outlives_them(client, api_user, unique):
    _, token = api_user
    client.post(
        "/observability-test/record/",
        {"stream": f"obs-{unique}"},
        content_type="application/json",
        HTTP_X_REQUEST_ID="abc",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert structlog.contextvars.get_contextvars() == {}
    assert current_correlation_id() is None
    append_one(f"obs-after-{unique}", "TestEventRecorded", {"n": 1})
    assert read_stream(f"obs-after-{unique}")[0].metadata == {}


@pytest.mark.parametrize("header", ["", "has space", "x" * 129, "semi;colon"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(client, header, log_lines):
    response = client.get("/observability-test/session/", HTTP_X_REQUEST_ID=header)  # login redirect: no event
    new_id = response["X-Request-ID"]
    assert new_id != header and len(new_id) == 32
    [request_line] = lines_with(log_lines(), "http.request")
    assert request_line["request_id"] == new_id
    assert request_line["status"] == 302 and request_line["actor"] is None


def test_django_404_log_line_carries_the_request_id(client, log_lines):
    client.get("/observability-test/missing/", HTTP_X_REQUEST_ID="lost-1")
    lines = log_lines()
    [not_found] = [line for line in lines if line["logger"] == "django.request"]
    assert not_found["event"] == "Not Found: /observability-test/missing/"
    assert not_found["request_id"] == "lost-1"
    [request_line] = lines_with(lines, "http.request")
    assert request_line["route"] == "<unmatched>" and request_line["status"] == 404


def test_an_explicit_actor_wins_over_the_request_user(client, api_user, unique):
    _, token = api_user
    stream = f"obs-{unique}"
    client.post(
        "/observability-test/explicit-actor/",
        {"stream": stream},
        content_type="application/json",
        HTTP_X_REQUEST_ID="xa-1",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    assert read_stream(stream)[0].metadata == {"correlation_id": "xa-1", "actor": "system:importer"}


def test_session_user_of_a_plain_django_view_is_the_actor(client, api_user, unique):
    user, _ = api_user
    client.force_login(user)
    stream = f"obs-{unique}"
    response = client.get(f"/observability-test/session/?stream={stream}", HTTP_X_REQUEST_ID="sess-1")
    assert response.status_code == 200
    assert read_stream(stream)[0].metadata == {"correlation_id": "sess-1", "actor": f"user:{user.username}"}


def test_a_task_started_outside_any_request_correlates_by_its_own_id(unique, log_lines):
    stream = f"obs-{unique}"
    result = record_event.delay(stream, 7)
    [event] = read_stream(stream)
    assert event.metadata == {"correlation_id": result.id, "actor": "task:tests.observability.record_event"}
    [task_line] = lines_with(log_lines(), "test.task.ran")
    assert (task_line["request_id"], task_line["task_id"]) == (result.id, result.id)


def test_correlation_headers_of_a_message_are_bound_in_the_task(unique, log_lines):
    """What a worker receives from the broker, given to apply() the same way."""
    stream = f"obs-{unique}"
    record_event.apply((stream, 3), headers={"scm_correlation_id": "from-broker", "scm_actor": "user:remote"})
    assert read_stream(stream)[0].metadata == {"correlation_id": "from-broker", "actor": "user:remote"}
    [task_line] = lines_with(log_lines(), "test.task.ran")
    assert task_line["request_id"] == "from-broker"
    assert structlog.contextvars.get_contextvars() == {}
