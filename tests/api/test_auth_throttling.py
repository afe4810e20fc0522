"""Throttles: integration clients get a per-user rate, the token endpoint a per-address rate; 429 in the error shape."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from scm.roles import INTEGRATION, OPS, PLANNER
from tests.api.helpers import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def low_rates(settings):
    # Throttle history lives in the cache; on SQLite a rolled-back test's user id is reused by the next test.
    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"integration": "3/min", "auth_token": "2/min"},
    }


def test_an_integration_client_over_its_rate_gets_429_with_retry_after(low_rates, unique):
    client = client_for(f"erp-{unique}", INTEGRATION)
    statuses = [client.get("/api/v1/events/?limit=1").status_code for _ in range(3)]
    response = client.get("/api/v1/events/?limit=1")

    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "throttled"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert body["error"]["fields"] == {"retry_after_seconds": retry_after}


def test_each_integration_client_has_its_own_budget(low_rates, unique):
    first, second = client_for(f"a-{unique}", INTEGRATION), client_for(f"b-{unique}", INTEGRATION)
    for _ in range(3):
        first.get("/api/v1/events/?limit=1")
    assert first.get("/api/v1/events/?limit=1").status_code == 429
    assert second.get("/api/v1/events/?limit=1").status_code == 200


@pytest.mark.parametrize("role", [PLANNER, OPS])
def test_planners_and_ops_are_not_throttled_by_the_integration_rate(low_rates, unique, role):
    client = client_for(f"{role}-{unique}", role)
    assert [client.get("/api/v1/events/?limit=1").status_code for _ in range(5)] == [200] * 5


def unique_address() -> str:
    octets = uuid.uuid4().bytes[:3]
    return f"10.{octets[0]}.{octets[1]}.{octets[2]}"


def test_the_token_endpoint_is_throttled_per_client_address(low_rates, unique):
    client, neighbour = APIClient(REMOTE_ADDR=unique_address()), APIClient(REMOTE_ADDR=unique_address())
    attempt = {"username": f"guess-{unique}", "password": "wrong"}
    statuses = [
        client.post("/api/v1/auth/token/", attempt, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(3)
    ]

    assert statuses == [400, 400, 429]  # a forged X-Forwarded-For does not buy a fresh budget
    assert client.post("/api/v1/auth/token/", attempt, format="json").json()["error"]["code"] == "throttled"
    assert neighbour.post("/api/v1/auth/token/", attempt, format="json").status_code == 400


def test_a_rate_of_off_disables_the_integration_throttle(settings, unique):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"integration": None}}
    client = client_for(f"free-{unique}", INTEGRATION)
    assert [client.get("/api/v1/events/?limit=1").status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize(
    "env_value, rate", [(None, "600/min"), ("50/sec", "50/sec"), ("off", None), ("None", None), ("", None)]
)
def test_the_integration_rate_is_read_from_the_environment(monkeypatch, env_value, rate):
    from scm.settings import _throttle_rate

    if env_value is None:
        monkeypatch.delenv("API_THROTTLE_INTEGRATION", raising=False)
    else:
        monkeypatch.setenv("API_THROTTLE_INTEGRATION", env_value)
    assert _throttle_rate("API_THROTTLE_INTEGRATION", "600/min") == rate
