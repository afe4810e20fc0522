"""Token auth, roles per operation, supplier binding and the command that creates API clients."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.urls import include, path
from rest_framework.authtoken.models import Token
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from scm.api.models import IntegrationProfile
from scm.api.permissions import RolePermission
from scm.api.services import integration_user_create
from scm.api.supplier_scope import bound_supplier_code, may_act_for_supplier, scope_to_bound_supplier
from scm.roles import INTEGRATION, OPS, PLANNER
from tests.api.helpers import assert_error, client_for

pytestmark = pytest.mark.django_db


class OrderLikeView(APIView):
    """Stands in for a domain view: every role reads, planners and integrations may create, only ops may
    cancel (DELETE: declared nowhere, so ops-only)."""

    permission_classes = [RolePermission]
    role_grants = {"get": (PLANNER, INTEGRATION), "post": (PLANNER, INTEGRATION)}
    supplier_grants: dict = {}

    def get(self, request):
        return Response({"ok": "read"})

    def post(self, request):
        return Response({"ok": "created"}, status=201)

    def delete(self, request):
        return Response(status=204)


urlpatterns = [
    path("api/v1/test-roles/", OrderLikeView.as_view()),
    path("api/v1/", include("scm.api.urls")),
]


# --- Anonymous ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/v1/events/"),
        ("get", "/api/v1/webhooks/"),
        ("post", "/api/v1/webhooks/"),
        ("get", "/api/v1/schema/"),
        ("get", "/api/v1/docs/"),
        ("get", "/api/v1/no-such-thing/"),
        ("post", "/api/v1/no-such-thing/"),
    ],
)
def test_anonymous_requests_answer_401_in_the_error_shape_with_a_token_challenge(method, url):
    response = getattr(APIClient(), method)(url)
    error = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert error["message"] == "Authentication credentials were not provided."


def test_health_readiness_and_the_token_endpoint_are_open_to_anonymous_callers():
    client = APIClient()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    response = client.post("/api/v1/auth/token/", {"username": "nobody", "password": "wrong"}, format="json")
    assert_error(response, 400, "invalid_credentials")


def test_a_wrong_token_answers_401_authentication_failed():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0000000000000000000000000000000000000000")
    assert_error(client.get("/api/v1/events/"), 401, "authentication_failed")


def test_the_token_endpoint_returns_the_token_that_then_authenticates(unique):
    user = get_user_model().objects.create_user(username=f"pw-{unique}", password="correct horse battery")
    user.groups.add(Group.objects.get(name=OPS))
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": user.username, "password": "correct horse battery"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert token == Token.objects.get(user=user).key
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/events/?limit=1").status_code == 200


def test_an_inactive_user_gets_no_token(unique):
    user = get_user_model().objects.create_user(username=f"off-{unique}", password="pw-123456789", is_active=False)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": user.username, "password": "pw-123456789"}, format="json"
    )
    assert_error(response, 400, "invalid_credentials")
    assert not Token.objects.filter(user=user).exists()


# --- Roles ------------------------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "role, get_status, post_status, delete_status",
    [
        (PLANNER, 200, 201, 403),
        (INTEGRATION, 200, 201, 403),
        (OPS, 200, 201, 204),
    ],
)
def test_each_role_may_do_what_the_view_grants_it(unique, role, get_status, post_status, delete_status):
    client = client_for(f"{role}-{unique}", role)
    assert client.get("/api/v1/test-roles/").status_code == get_status
    assert client.post("/api/v1/test-roles/", {}, format="json").status_code == post_status
    response = client.delete("/api/v1/test-roles/")
    assert response.status_code == delete_status
    if delete_status == 403:
        assert_error(response, 403, "permission_denied")


@pytest.mark.urls(__name__)
def test_an_authenticated_user_without_a_role_may_not_even_read(unique):
    user = get_user_model().objects.create_user(username=f"norole-{unique}")
    client = APIClient()
    client.force_authenticate(user)
    assert_error(client.get("/api/v1/test-roles/"), 403, "permission_denied")
    assert_error(client.get("/api/v1/events/"), 403, "permission_denied")


@pytest.mark.urls(__name__)
def test_a_superuser_passes_every_role_check(unique):
    user = get_user_model().objects.create_superuser(username=f"root-{unique}", password="x" * 12)
    client = APIClient()
    client.force_authenticate(user)
    assert client.delete("/api/v1/test-roles/").status_code == 204


def test_webhooks_are_for_ops_only(unique):
    assert_error(client_for(f"p-{unique}", PLANNER).get("/api/v1/webhooks/"), 403, "permission_denied")
    assert_error(client_for(f"i-{unique}", INTEGRATION).get("/api/v1/webhooks/"), 403, "permission_denied")
    assert client_for(f"o-{unique}", OPS).get("/api/v1/webhooks/").status_code == 200


# --- Supplier binding -------------------------------------------------------------------------


def test_bound_supplier_code_reads_the_profile_and_unbound_users_see_everything(unique):
    bound = integration_user_create(username=f"acme-{unique}", supplier_code=f"ACME-{unique}")
    free = integration_user_create(username=f"erp-{unique}")
    user_model = get_user_model()
    bound_user, free_user = user_model.objects.get(pk=bound.user_id), user_model.objects.get(pk=free.user_id)
    no_profile = user_model.objects.create_user(username=f"plain-{unique}")

    assert bound_supplier_code(bound_user) == f"ACME-{unique}"
    assert bound_supplier_code(free_user) is None
    assert bound_supplier_code(no_profile) is None
    assert may_act_for_supplier(bound_user, f"ACME-{unique}") is True
    assert may_act_for_supplier(bound_user, f"OTHER-{unique}") is False
    assert may_act_for_supplier(free_user, f"OTHER-{unique}") is True


def test_scope_to_bound_supplier_narrows_a_queryset_to_the_bound_supplier_only(unique):
    codes = [f"S1-{unique}", f"S2-{unique}"]
    for n, code in enumerate(codes):
        integration_user_create(username=f"sup{n}-{unique}", supplier_code=code)
    mine = get_user_model().objects.get(username=f"sup0-{unique}")
    everyone = get_user_model().objects.create_user(username=f"all-{unique}")
    rows = IntegrationProfile.objects.filter(supplier_code__in=codes)

    scoped = scope_to_bound_supplier(rows, mine, field="supplier_code")
    assert list(scoped.values_list("supplier_code", flat=True)) == [f"S1-{unique}"]
    assert scoped.filter(supplier_code=f"S2-{unique}").first() is None  # what a detail view turns into 404
    assert (
        sorted(scope_to_bound_supplier(rows, everyone, field="supplier_code").values_list("supplier_code", flat=True))
        == codes
    )


def test_a_supplier_bound_token_may_not_read_the_global_event_log(unique):
    client = client_for(f"bound-{unique}", INTEGRATION, supplier=f"ACME-{unique}")
    error = assert_error(client.get("/api/v1/events/"), 403, "permission_denied")
    assert "bound to one supplier" in error["message"]
    assert client_for(f"unbound-{unique}", INTEGRATION).get("/api/v1/events/?limit=1").status_code == 200


# --- create_integration_user ------------------------------------------------------------------


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_integration_user", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_create_integration_user_prints_only_the_token_and_binds_the_supplier(unique):
    token, message = run_command(f"edi-{unique}", "--supplier", f"ACME-{unique}")

    user = get_user_model().objects.get(username=f"edi-{unique}")
    assert token == Token.objects.get(user=user).key and len(token) == 40
    assert message == f"Created integration user 'edi-{unique}', bound to supplier ACME-{unique}."
    assert list(user.groups.values_list("name", flat=True)) == [INTEGRATION]
    assert user.has_usable_password() is False
    assert IntegrationProfile.objects.get(user=user).supplier_code == f"ACME-{unique}"

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert_error(client.get("/api/v1/events/"), 403, "permission_denied")  # bound: no global log


def test_running_the_command_again_keeps_the_token_and_updates_role_and_binding(unique):
    first, _ = run_command(f"svc-{unique}", "--supplier", f"ACME-{unique}")
    again, message = run_command(f"svc-{unique}", "--role", "ops")

    user = get_user_model().objects.get(username=f"svc-{unique}")
    assert again == first
    assert message == f"Updated ops user 'svc-{unique}'."
    assert list(user.groups.values_list("name", flat=True)) == [OPS]
    assert IntegrationProfile.objects.get(user=user).supplier_code == ""


def test_the_command_refuses_a_supplier_binding_for_a_planner_and_creates_nothing(unique):
    with pytest.raises(CommandError, match="Only integration accounts can be bound to a supplier"):
        run_command(f"plan-{unique}", "--role", "planner", "--supplier", "ACME")
    assert not get_user_model().objects.filter(username=f"plan-{unique}").exists()


# --- Schema and docs --------------------------------------------------------------------------


def test_schema_and_docs_need_a_role_and_then_render(unique):
    client = client_for(f"reader-{unique}", PLANNER)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/events/", "/api/v1/webhooks/", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver/"} <= set(
        paths
    )
    assert "/api/v1/{path}" not in paths and not any(".*" in p for p in paths)
    assert set(paths["/api/v1/events/"]["get"]["responses"]) == {"200", "400", "401", "403", "429", "503"}

    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_schema_is_public_only_when_api_docs_public_is_set(settings):
    assert_error(APIClient().get("/api/v1/schema/"), 401, "not_authenticated")
    settings.API_DOCS_PUBLIC = True
    assert APIClient().get("/api/v1/schema/").status_code == 200
