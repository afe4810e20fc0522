"""Idempotency-Key: a retried POST does its work once and answers the first response again."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import path
from django.utils import timezone
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from scm.api.idempotency import idempotent
from scm.api.models import IdempotencyRecord
from scm.api.permissions import RolePermission
from scm.api.services import idempotency_records_purge, integration_user_create
from scm.errors import Conflict
from scm.events import store
from scm.roles import INTEGRATION
from tests.api.helpers import client_for


class RecordInput(serializers.Serializer):
    stream = serializers.CharField(max_length=100)
    n = serializers.IntegerField()
    fail = serializers.ChoiceField(choices=["", "raise", "respond"], default="")


class RecordView(APIView):
    """Test-only: appends one event, so the number of executions is the number of events in the stream."""

    permission_classes = [RolePermission]
    role_grants = {"post": (INTEGRATION,)}
    max_body_bytes = 10_000

    @idempotent
    def post(self, request):
        data = RecordInput(data=request.data)
        data.is_valid(raise_exception=True)
        event = store.append_one(data.validated_data["stream"], "TestEventRecorded", {"n": data.validated_data["n"]})
        if data.validated_data["fail"] == "raise":
            raise Conflict("refused after the append", n=data.validated_data["n"])
        if data.validated_data["fail"] == "respond":
            return Response({"refused": True}, status=409)
        return Response(
            {"position": event.position, "stream": event.stream, "n": event.payload["n"], "at": event.recorded_at},
            status=201,
            headers={"Location": f"/api/v1/test-events/{event.position}/"},
        )


urlpatterns = [
    path("api/v1/test-idempotent/", RecordView.as_view()),
    path("api/v1/test-idempotent-other/", RecordView.as_view()),
]

pytestmark = pytest.mark.urls(__name__)


def post(client: APIClient, body: dict, key: str | None, url: str = "/api/v1/test-idempotent/"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(url, body, format="json", **headers)


def events_in(stream: str) -> list[int]:
    return [event.payload["n"] for event in store.read_stream(stream)]


@pytest.mark.django_db
def test_a_repeat_with_the_same_key_and_body_replays_the_first_response_without_running_again(unique):
    client, stream = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}"
    first = post(client, {"stream": stream, "n": 1}, key=f"k-{unique}")
    second = post(client, {"stream": stream, "n": 1}, key=f"k-{unique}")

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert events_in(stream) == [1]
    record = IdempotencyRecord.objects.get(key=f"k-{unique}")
    assert (record.method, record.path, record.response_status) == ("POST", "/api/v1/test-idempotent/", 201)


@pytest.mark.django_db
def test_the_same_key_with_a_different_body_answers_422_and_does_nothing(unique):
    client, stream = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}"
    post(client, {"stream": stream, "n": 1}, key=f"k-{unique}")
    response = post(client, {"stream": stream, "n": 2}, key=f"k-{unique}")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert error["fields"]["key"] == f"k-{unique}"
    assert error["fields"]["first_used_for"] == "POST /api/v1/test-idempotent/"
    assert events_in(stream) == [1]


@pytest.mark.django_db
def test_the_same_key_on_another_path_is_also_a_reuse(unique):
    client, stream = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}"
    post(client, {"stream": stream, "n": 1}, key=f"k-{unique}")
    response = post(client, {"stream": stream, "n": 1}, key=f"k-{unique}", url="/api/v1/test-idempotent-other/")
    assert response.status_code == 422
    assert events_in(stream) == [1]


@pytest.mark.django_db
def test_keys_belong_to_one_user(unique):
    stream = f"idem-{unique}"
    first = post(client_for(f"a-{unique}", INTEGRATION), {"stream": stream, "n": 1}, key="shared-key")
    second = post(client_for(f"b-{unique}", INTEGRATION), {"stream": stream, "n": 1}, key="shared-key")
    assert first.status_code == second.status_code == 201
    assert not second.has_header("Idempotent-Replayed")
    assert events_in(stream) == [1, 1]


@pytest.mark.django_db
def test_a_body_the_view_accepts_is_fingerprinted_even_above_djangos_own_memory_limit(unique, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20  # the view's max_body_bytes (10 000) is what counts
    client, stream = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}"
    first = post(client, {"stream": stream, "n": 1, "fail": ""}, key=f"k-{unique}")
    again = post(client, {"stream": stream, "n": 1, "fail": ""}, key=f"k-{unique}")
    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert events_in(stream) == [1]


@pytest.mark.django_db
def test_without_a_key_every_request_runs(unique):
    client, stream = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}"
    post(client, {"stream": stream, "n": 1}, key=None)
    post(client, {"stream": stream, "n": 1}, key=None)
    assert events_in(stream) == [1, 1]


@pytest.mark.django_db
@pytest.mark.parametrize("fail", ["raise", "respond"])
def test_a_failed_request_stores_nothing_rolls_back_and_can_be_retried_with_the_same_key(unique, fail):
    client, stream, key = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}", f"k-{unique}"
    failed = post(client, {"stream": stream, "n": 1, "fail": fail}, key=key)
    assert failed.status_code == 409
    assert events_in(stream) == []
    assert not IdempotencyRecord.objects.filter(key=key).exists()

    retried = post(client, {"stream": stream, "n": 1}, key=key)
    assert retried.status_code == 201 and not retried.has_header("Idempotent-Replayed")
    assert events_in(stream) == [1]


@pytest.mark.django_db
def test_a_validation_error_is_not_stored_either(unique):
    client, key = client_for(f"erp-{unique}", INTEGRATION), f"k-{unique}"
    response = post(client, {"n": "not a number"}, key=key)
    assert response.status_code == 400
    assert not IdempotencyRecord.objects.filter(key=key).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_answers_400_and_nothing_runs(unique, key):
    client, stream = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}"
    response = post(client, {"stream": stream, "n": 1}, key=key)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert events_in(stream) == []


@pytest.mark.django_db
def test_role_checks_run_before_the_key_is_looked_at(unique):
    planner = APIClient()
    planner.credentials(
        HTTP_AUTHORIZATION=f"Token {integration_user_create(username=f'p-{unique}', role='planner').token}"
    )
    response = post(planner, {"stream": f"idem-{unique}", "n": 1}, key=f"k-{unique}")
    assert response.status_code == 403
    assert not IdempotencyRecord.objects.filter(key=f"k-{unique}").exists()


@pytest.mark.django_db
def test_records_older_than_the_retention_are_purged_and_the_key_then_runs_again(unique, settings):
    settings.IDEMPOTENCY_RETENTION_HOURS = 24
    client, stream, now = client_for(f"erp-{unique}", INTEGRATION), f"idem-{unique}", timezone.now()
    post(client, {"stream": stream, "n": 1}, key=f"old-{unique}")
    post(client, {"stream": stream, "n": 2}, key=f"new-{unique}")
    IdempotencyRecord.objects.filter(key=f"old-{unique}").update(created_at=now - timedelta(hours=24, seconds=1))
    IdempotencyRecord.objects.filter(key=f"new-{unique}").update(created_at=now - timedelta(hours=23, minutes=59))

    assert idempotency_records_purge(now=now) >= 1
    assert list(IdempotencyRecord.objects.filter(key__endswith=unique).values_list("key", flat=True)) == [
        f"new-{unique}"
    ]
    post(client, {"stream": stream, "n": 1}, key=f"old-{unique}")
    assert events_in(stream) == [1, 2, 1]


@pytest.mark.postgres
def test_twenty_concurrent_identical_requests_run_once_and_all_get_the_same_response(committed_db, unique):
    client_count = 20
    token = integration_user_create(username=f"burst-{unique}").token
    stream, key, body = f"idem-{unique}", f"burst-{unique}", {"stream": f"idem-{unique}", "n": 7}
    barrier = threading.Barrier(client_count)
    results: list[tuple[int, bytes, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
            barrier.wait(timeout=30)
            response = client.post("/api/v1/test-idempotent/", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
            with lock:
                results.append((response.status_code, response.content, response.get("Idempotent-Replayed", "")))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(client_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == client_count
    assert events_in(stream) == [7]
    assert {status for status, _, _ in results} == {201}
    assert len({content for _, content, _ in results}) == 1
    assert sorted(replayed for _, _, replayed in results) == [""] + ["true"] * (client_count - 1)
