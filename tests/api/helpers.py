"""Shared pieces of the API tests: real token clients per role and the error-shape assertion."""

from __future__ import annotations

from rest_framework.test import APIClient

from scm.api.services import integration_user_create


def client_for(username: str, role: str, supplier: str = "") -> APIClient:
    """An API client authenticated with a real token of a new user holding `role`."""
    client = APIClient()
    token = integration_user_create(username=username, role=role, supplier_code=supplier).token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def assert_error(response, status: int, code: str) -> dict:
    """The response is the one JSON error shape with this status and code; returns the error."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code, body
    return body["error"]
