"""Every error at the API edge answers the one JSON shape: unknown URLs, methods, media types, bodies."""

from __future__ import annotations

import pytest
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from scm.api.services import integration_user_create
from scm.events.models import Event
from scm.roles import OPS
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


class BigBodyView(APIView):
    """Test-only: a view that accepts larger bodies than the API default, like raw supplier messages."""

    max_body_bytes = "TEST_BIG_BODY_BYTES"

    def post(self, request):
        return Response({"received": len(request.data.get("blob", ""))})


urlpatterns = [
    path("api/v1/test-big-body/", BigBodyView.as_view()),
    path("api/v1/", include("scm.api.urls")),
]


@pytest.fixture
def ops_client(unique) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {integration_user_create(username=f'ops-{unique}', role=OPS).token}")
    return client


def test_an_unknown_path_under_v1_answers_a_json_404(ops_client):
    error = assert_error(ops_client.get("/api/v1/no/such/thing/"), 404, "not_found")
    assert error == {
        "code": "not_found",
        "message": "No API endpoint at /api/v1/no/such/thing/.",
        "fields": {"path": "/api/v1/no/such/thing/"},
    }
    assert_error(ops_client.delete("/api/v1/nothing-here"), 404, "not_found")


def test_a_missing_trailing_slash_gets_a_404_that_names_the_right_path_instead_of_a_redirect(ops_client):
    error = assert_error(ops_client.post("/api/v1/webhooks", {}, format="json"), 404, "not_found")
    assert error["fields"] == {"path": "/api/v1/webhooks", "did_you_mean": "/api/v1/webhooks/"}
    assert "Did you mean /api/v1/webhooks/" in error["message"]


def test_an_unknown_path_under_api_outside_v1_also_answers_json():
    error = assert_error(APIClient().get("/api/v2/orders/"), 404, "not_found")
    assert error["fields"] == {"path": "/api/v2/orders/"}


def test_a_wrong_method_answers_405_with_allow(ops_client):
    response = ops_client.put("/api/v1/events/", {}, format="json")
    error = assert_error(response, 405, "method_not_allowed")
    assert error["message"] == 'Method "PUT" not allowed.'
    assert "GET" in response["Allow"]


def test_an_unsupported_media_type_answers_415(ops_client):
    response = ops_client.post("/api/v1/webhooks/", data=b"url=x", content_type="text/plain")
    error = assert_error(response, 415, "unsupported_media_type")
    assert error["message"] == 'Unsupported media type "text/plain" in request.'


def test_malformed_json_answers_400_and_nothing_is_created(ops_client):
    before = Event.objects.count()
    response = ops_client.post("/api/v1/webhooks/", data=b'{"url": "http://x.test/",', content_type="application/json")
    error = assert_error(response, 400, "malformed_request")
    assert error["message"].startswith("JSON parse error")
    assert Event.objects.count() == before


def test_a_body_over_the_limit_answers_413_before_anything_reads_it(ops_client, settings):
    settings.API_MAX_BODY_BYTES = 100
    body = b'{"url": "http://x.test/", "secret": "' + b"s" * 200 + b'"}'
    error = assert_error(
        ops_client.post("/api/v1/webhooks/", data=body, content_type="application/json"), 413, "payload_too_large"
    )
    assert error["fields"] == {"content_length": len(body), "max_bytes": 100}


def test_the_body_limit_applies_to_anonymous_callers_too(settings):
    settings.API_MAX_BODY_BYTES = 10
    response = APIClient().post("/api/v1/auth/token/", data=b'{"username": "someone"}', content_type="application/json")
    assert_error(response, 413, "payload_too_large")


def test_a_body_at_the_limit_is_read_normally(ops_client, settings):
    body = b'{"url": "ftp://x.test/"}'
    settings.API_MAX_BODY_BYTES = len(body)
    error = assert_error(
        ops_client.post("/api/v1/webhooks/", data=body, content_type="application/json"), 400, "invalid"
    )
    assert set(error["fields"]) == {"url", "secret"}


def test_the_default_body_limit_is_one_mebibyte(settings):
    assert settings.API_MAX_BODY_BYTES == 1024 * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE >= settings.API_MAX_BODY_BYTES


def test_validation_errors_carry_per_field_messages(ops_client):
    response = ops_client.post("/api/v1/webhooks/", {"url": "not a url", "secret": "short"}, format="json")
    error = assert_error(response, 400, "invalid")
    assert error["fields"] == {
        "url": ["Enter a valid URL."],
        "secret": ["Ensure this field has at least 16 characters."],
    }
    assert error["message"] == "url: Enter a valid URL."


@pytest.mark.urls(__name__)
def test_a_view_may_declare_a_larger_body_limit_by_setting_name(ops_client, settings):
    settings.API_MAX_BODY_BYTES = 50
    settings.TEST_BIG_BODY_BYTES = 200
    body = b'{"blob": "' + b"x" * 100 + b'"}'

    accepted = ops_client.post("/api/v1/test-big-body/", data=body, content_type="application/json")
    assert (accepted.status_code, accepted.json()) == (200, {"received": 100})
    refused = ops_client.post("/api/v1/webhooks/", data=body, content_type="application/json")
    assert assert_error(refused, 413, "payload_too_large")["fields"] == {"content_length": len(body), "max_bytes": 50}

    too_big = b'{"blob": "' + b"x" * 300 + b'"}'
    error = assert_error(
        ops_client.post("/api/v1/test-big-body/", data=too_big, content_type="application/json"),
        413,
        "payload_too_large",
    )
    assert error["fields"] == {"content_length": len(too_big), "max_bytes": 200}


def test_a_content_length_that_is_not_a_number_answers_400(ops_client):
    response = ops_client.generic(
        "POST", "/api/v1/webhooks/", b"{}", content_type="application/json", CONTENT_LENGTH="abc"
    )
    assert_error(response, 400, "malformed_request")
