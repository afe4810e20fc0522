"""The webhooks API: endpoint CRUD for ops (secret write-only), delivery lists with cursor pages, redelivery."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient

from scm.api.services import integration_user_create
from scm.events import store
from scm.events.store import NewEvent
from scm.roles import OPS, PLANNER
from scm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from scm.webhooks.services import webhook_deliveries_fan_out

pytestmark = pytest.mark.django_db

SECRET = "0123456789abcdef-secret"


def client_for(username: str, role: str = OPS) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {integration_user_create(username=username, role=role).token}")
    return client


@pytest.fixture
def ops(unique) -> APIClient:
    return client_for(f"ops-{unique}")


def create(client: APIClient, **fields) -> dict:
    response = client.post(
        "/api/v1/webhooks/", {"url": "https://hooks.example.com/scm", "secret": SECRET, **fields}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def path_of(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}"


# --- Endpoints --------------------------------------------------------------------------------


def test_ops_create_an_endpoint_and_the_secret_is_never_shown(ops):
    head = store.head_position()
    body = create(ops, description="ERP", event_types=["TestEventRecorded"])

    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body == {
        "id": endpoint.pk,
        "url": "https://hooks.example.com/scm",
        "description": "ERP",
        "event_types": ["TestEventRecorded"],
        "active": True,
        "start_position": head,
        "pending_count": 0,
        "dead_count": 0,
        "breaker": {"state": "closed", "consecutive_failures": 0, "opened_until": None, "last_error": ""},
        "created_at": endpoint.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": endpoint.updated_at.isoformat().replace("+00:00", "Z"),
    }
    assert endpoint.secret == SECRET
    assert endpoint.created_by.username.startswith("ops-")
    assert "secret" not in ops.get(f"/api/v1/webhooks/{endpoint.pk}/").json()


@pytest.mark.parametrize(
    "fields, errors",
    [
        ({"url": "ftp://files.example.com/x"}, {"url": ["Enter a valid URL."]}),
        ({"secret": "too-short"}, {"secret": ["Ensure this field has at least 16 characters."]}),
        ({"event_types": ["NoSuchEvent"]}, {"event_types": {"0": ["Unknown event type: NoSuchEvent."]}}),
        ({"event_types": "TestEventRecorded"}, {"event_types": ['Expected a list of items but got type "str".']}),
        ({"active": "maybe"}, {"active": ["Must be a valid boolean."]}),
    ],
)
def test_invalid_endpoints_answer_400_per_field_and_nothing_is_created(ops, fields, errors):
    before = WebhookEndpoint.objects.count()
    body = {"url": "https://hooks.example.com/scm", "secret": SECRET, **fields}
    response = ops.post("/api/v1/webhooks/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == errors
    assert WebhookEndpoint.objects.count() == before


@pytest.mark.usefixtures("strict_outbound")
@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://[::1]:8000/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata service)"),
        ("http://10.1.2.3/hook", "private (RFC 1918 / ULA)"),
        ("http://localhost:8000/hook", "loopback"),
    ],
)
def test_internal_urls_are_refused_with_a_400_naming_the_reason_and_nothing_is_saved(ops, url, reason):
    before = WebhookEndpoint.objects.count()
    response = ops.post("/api/v1/webhooks/", {"url": url, "secret": SECRET}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "outbound_address_refused" and error["fields"]["reason"] == reason
    assert error["message"].startswith("The webhook URL is refused by the outbound policy")
    assert WebhookEndpoint.objects.count() == before

    endpoint = create(ops)
    response = ops.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"url": url}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "outbound_address_refused"
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).url == "https://hooks.example.com/scm"


def test_the_endpoint_shows_its_breaker(ops):
    from scm.outbound.breaker import BreakerPolicy, DbBreaker

    endpoint = create(ops)
    for _ in range(2):
        DbBreaker(f"webhook:{endpoint['id']}", BreakerPolicy(failure_threshold=2)).record_failure(
            "no complete answer within the 10s budget of the attempt", probe=False
        )
    detail = ops.get(f"/api/v1/webhooks/{endpoint['id']}/").json()["breaker"]
    assert (detail["state"], detail["consecutive_failures"]) == ("open", 2)
    assert detail["opened_until"] and detail["last_error"].startswith("no complete answer")
    [listed] = [e for e in ops.get("/api/v1/webhooks/?limit=100").json()["results"] if e["id"] == endpoint["id"]]
    assert listed["breaker"] == detail


def test_the_list_pages_with_a_cursor_oldest_first(ops):
    ids = [create(ops, description=f"e{n}")["id"] for n in range(3)]
    first = ops.get("/api/v1/webhooks/?limit=2").json()
    collected = [e["id"] for e in first["results"]]
    next_url = first["next"]
    while next_url:
        page = ops.get(path_of(next_url)).json()
        collected += [e["id"] for e in page["results"]]
        next_url = page["next"]
    assert [i for i in collected if i in ids] == ids
    assert len(collected) == len(set(collected))


def test_patch_changes_only_the_given_fields_and_can_rotate_the_secret(ops):
    endpoint = create(ops, event_types=["TestEventRecorded"])
    response = ops.patch(
        f"/api/v1/webhooks/{endpoint['id']}/", {"active": False, "secret": "a-brand-new-secret-value"}, format="json"
    )
    assert response.status_code == 200
    assert (response.json()["active"], response.json()["event_types"]) == (False, ["TestEventRecorded"])
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert (stored.secret, stored.active, stored.url) == ("a-brand-new-secret-value", False, endpoint["url"])


def test_an_invalid_patch_changes_nothing(ops):
    endpoint = create(ops)
    response = ops.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"url": "nope", "active": False}, format="json")
    assert response.status_code == 400
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).active is True


def test_delete_removes_the_endpoint_and_then_it_is_404(ops):
    endpoint = create(ops)
    assert ops.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204
    response = ops.get(f"/api/v1/webhooks/{endpoint['id']}/")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "webhook_endpoint_not_found",
        "message": f"No webhook endpoint {endpoint['id']}.",
        "fields": {"endpoint_id": endpoint["id"]},
    }
    assert ops.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 404


@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
def test_planners_may_not_touch_webhooks(unique, method):
    planner = client_for(f"planner-{unique}", PLANNER)
    url = "/api/v1/webhooks/" if method in ("get", "post") else "/api/v1/webhooks/1/"
    response = getattr(planner, method)(url, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


# --- Deliveries -------------------------------------------------------------------------------


@pytest.fixture
def endpoint_with_deliveries(ops, unique):
    endpoint = create(ops)
    events = [store.append(f"wh-{unique}", [NewEvent(type="TestEventRecorded", payload={"n": n})])[0] for n in range(3)]
    for event in events:
        webhook_deliveries_fan_out(event)
    deliveries = list(WebhookDelivery.objects.filter(endpoint_id=endpoint["id"]).order_by("event_position"))
    return endpoint["id"], events, deliveries


def test_deliveries_are_listed_newest_first_with_their_state(ops, endpoint_with_deliveries, unique):
    endpoint_id, events, deliveries = endpoint_with_deliveries
    body = ops.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/").json()

    assert [d["event_position"] for d in body["results"]] == [e.position for e in reversed(events)]
    newest = body["results"][0]
    assert newest == {
        "id": deliveries[-1].pk,
        "endpoint": endpoint_id,
        "event_position": events[-1].position,
        "event_id": str(events[-1].event_id),
        "stream": f"wh-{unique}",
        "event_type": "TestEventRecorded",
        "status": "PENDING",
        "attempts": 0,
        "next_attempt_at": deliveries[-1].next_attempt_at.isoformat().replace("+00:00", "Z"),
        "last_attempt_at": None,
        "last_status_code": None,
        "last_error": "",
        "delivered_at": None,
        "created_at": deliveries[-1].created_at.isoformat().replace("+00:00", "Z"),
    }
    assert body["next"] is None and body["previous"] is None
    assert ops.get(f"/api/v1/webhooks/{endpoint_id}/").json()["pending_count"] == 3


def test_deliveries_page_with_limit_and_cursor_and_filter_by_status(ops, endpoint_with_deliveries):
    endpoint_id, events, deliveries = endpoint_with_deliveries
    WebhookDelivery.objects.filter(pk=deliveries[0].pk).update(status=DeliveryStatus.DEAD, attempts=10)

    first = ops.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/?limit=2").json()
    second = ops.get(path_of(first["next"])).json()
    assert [d["id"] for d in first["results"] + second["results"]] == [d.pk for d in reversed(deliveries)]
    assert second["next"] is None

    dead = ops.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/?status=DEAD").json()["results"]
    assert [d["id"] for d in dead] == [deliveries[0].pk]
    assert ops.get(f"/api/v1/webhooks/{endpoint_id}/").json()["dead_count"] == 1


@pytest.mark.parametrize(
    "query, code, field",
    [
        ("limit=0", "invalid", "limit"),
        ("limit=1001", "invalid", "limit"),
        ("limit=ten", "invalid", "limit"),
        ("status=LOST", "invalid", "status"),
        ("cursor=bm90LWEtY3Vyc29y", "invalid_cursor", None),
        ("cursor=cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "invalid_cursor", None),
    ],
)
def test_bad_list_parameters_answer_400(ops, endpoint_with_deliveries, query, code, field):
    endpoint_id, _, _ = endpoint_with_deliveries
    response = ops.get(f"/api/v1/webhooks/{endpoint_id}/deliveries/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code
    assert list(error["fields"]) == ([field] if field else [])


def test_deliveries_of_an_unknown_endpoint_are_404(ops):
    response = ops.get("/api/v1/webhooks/999999999/deliveries/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "webhook_endpoint_not_found"


def test_redeliver_requeues_a_dead_delivery_and_refuses_others(ops, endpoint_with_deliveries):
    _, _, deliveries = endpoint_with_deliveries
    dead, pending = deliveries[0], deliveries[1]
    WebhookDelivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD, attempts=10, last_status_code=500)

    response = ops.post(f"/api/v1/webhooks/deliveries/{dead.pk}/redeliver/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["attempts"]) == ("PENDING", 0)
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.last_status_code) == ("PENDING", 0, 500)

    refused = ops.post(f"/api/v1/webhooks/deliveries/{pending.pk}/redeliver/")
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "delivery_not_dead",
        "message": f"Delivery {pending.pk} is PENDING; only DEAD deliveries can be redelivered.",
        "fields": {"delivery_id": pending.pk, "status": "PENDING"},
    }
    missing = ops.post("/api/v1/webhooks/deliveries/999999999/redeliver/")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "webhook_delivery_not_found")
    assert ops.get(f"/api/v1/webhooks/deliveries/{dead.pk}/").json()["status"] == "PENDING"


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, unique):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.create_superuser(username=f"admin-{unique}", password="x" * 16))
    return client


def test_admin_creates_an_endpoint_through_the_service(admin_client, unique):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {
            "url": f"https://hooks.example.com/{unique}",
            "description": "from admin",
            "event_types": '["TestEventRecorded"]',
            "secret": SECRET,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content
    endpoint = WebhookEndpoint.objects.get(url=f"https://hooks.example.com/{unique}")
    assert (endpoint.event_types, endpoint.secret, endpoint.start_position) == (
        ["TestEventRecorded"],
        SECRET,
        store.head_position(),
    )
    assert endpoint.created_by.username == f"admin-{unique}"


def test_admin_refuses_unknown_event_types_on_the_form(admin_client, unique):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": f"https://hooks.example.com/{unique}", "event_types": '["Nope"]', "secret": SECRET},
    )
    assert response.status_code == 200
    assert b"Unknown event type(s): Nope." in response.content
    assert not WebhookEndpoint.objects.filter(url=f"https://hooks.example.com/{unique}").exists()


def test_admin_redeliver_action_requeues_dead_deliveries_and_skips_the_rest(admin_client, endpoint_with_deliveries):
    _, _, deliveries = endpoint_with_deliveries
    WebhookDelivery.objects.filter(pk=deliveries[0].pk).update(status=DeliveryStatus.DEAD, attempts=10)
    assert admin_client.get("/admin/webhooks/webhookdelivery/").status_code == 200

    response = admin_client.post(
        "/admin/webhooks/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [deliveries[0].pk, deliveries[1].pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"1 delivery(ies) queued again; 1 skipped (not DEAD)." in response.content
    deliveries[0].refresh_from_db()
    assert (deliveries[0].status, deliveries[0].attempts) == ("PENDING", 0)


@pytest.mark.usefixtures("strict_outbound")
def test_admin_refuses_an_internal_url_on_the_form_and_lists_the_breaker(admin_client, unique):
    response = admin_client.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": "http://169.254.169.254/latest/meta-data/", "event_types": "[]", "secret": SECRET},
    )
    assert response.status_code == 200
    assert b"The webhook URL is refused by the outbound policy" in response.content
    assert b"cloud metadata" in response.content
    assert not WebhookEndpoint.objects.filter(url__contains="169.254.169.254").exists()

    from scm.outbound.breaker import BreakerPolicy, DbBreaker
    from scm.webhooks.services import webhook_endpoint_create

    endpoint = webhook_endpoint_create(url=f"https://hooks.example.com/{unique}", secret=SECRET)
    DbBreaker(f"webhook:{endpoint.pk}", BreakerPolicy(failure_threshold=1)).record_failure("HTTP 503", probe=False)
    listing = admin_client.get("/admin/webhooks/webhookendpoint/")
    assert listing.status_code == 200
    assert b"open until" in listing.content and b"HTTP 503" in listing.content
    assert admin_client.get("/admin/outbound/breaker/").status_code == 200
