"""The admin shows what ops may change as editable, and nothing else; the webhook secret is write-only.

Findings of issue 14: the webhook secret was rendered in clear in the endpoint's change form (the docs
promise it is never shown again), and change forms ops could not save (inbound and outbound messages:
editable on GET, refused on POST) looked editable.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from scm.roles import OPS
from scm.webhooks import services as webhooks
from scm.webhooks.models import WebhookEndpoint
from suppliers import inbound

pytestmark = pytest.mark.django_db

SECRET = "s3cret-value-never-shown-" + "x" * 8


@pytest.fixture
def ops_user(unique):
    from dashboard.apps import grant_ops_admin_permissions

    grant_ops_admin_permissions()
    user = get_user_model().objects.create_user(username=f"ops-{unique}", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS))
    return user


@pytest.fixture
def ops_admin(ops_user):
    client = Client()
    client.force_login(ops_user)
    return client


def _editable_inputs(html: str) -> list[str]:
    """Names of the form fields a user can type into or pick (hidden inputs and buttons left out)."""
    names = []
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if name and 'type="hidden"' not in tag and name.group(1) not in ("_save", "_continue", "_addanother"):
            names.append(name.group(1))
    return names


def test_the_webhook_secret_is_never_rendered_in_the_change_form(ops_admin, unique):
    endpoint = webhooks.webhook_endpoint_create(url=f"https://hooks.example.com/{unique}", secret=SECRET, actor=None)
    page = ops_admin.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert "Leave blank to keep the current secret" in page.content.decode()


def test_saving_the_endpoint_with_a_blank_secret_keeps_it_and_a_new_one_rotates_it(ops_admin, unique):
    endpoint = webhooks.webhook_endpoint_create(url=f"https://hooks.example.com/{unique}", secret=SECRET, actor=None)
    url = f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/"
    form = {"url": endpoint.url, "description": "renamed", "event_types": "[]", "secret": "", "active": "on"}
    assert ops_admin.post(url, form).status_code == 302
    assert WebhookEndpoint.objects.values_list("description", "secret").get(pk=endpoint.pk) == ("renamed", SECRET)
    assert ops_admin.post(url, {**form, "secret": "rotated-" + "y" * 16}).status_code == 302
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == "rotated-" + "y" * 16


def test_a_new_endpoint_still_needs_a_secret(ops_admin, unique):
    response = ops_admin.post(
        "/admin/webhooks/webhookendpoint/add/",
        {"url": f"https://hooks.example.com/{unique}", "event_types": "[]", "secret": ""},
    )
    assert response.status_code == 200
    assert b"A new endpoint needs a secret." in response.content


def test_an_inbound_message_renders_read_only_for_ops_and_cannot_be_posted(ops_admin, unique):
    message = inbound.inbound_message_store(body=f"junk {unique}".encode(), source="api")
    url = f"/admin/suppliers/inboundmessage/{message.pk}/change/"
    page = ops_admin.get(url)
    assert page.status_code == 200
    assert _editable_inputs(page.content.decode()) == []
    assert 'name="_save"' not in page.content.decode()
    assert ops_admin.post(url, {"errors": "[]"}).status_code == 403


def test_no_admin_grants_ops_a_change_form_it_would_then_refuse_to_save(ops_user):
    """Whether ops may change an object must not depend on the HTTP method (editable on GET, 403 on POST)."""
    factory = RequestFactory()
    differing = []
    for model, model_admin in admin.site._registry.items():
        obj = model()
        answers = set()
        for method in ("get", "post"):
            request = getattr(factory, method)("/admin/")
            request.user = ops_user
            answers.add(bool(model_admin.has_change_permission(request, obj)))
        if len(answers) > 1:
            differing.append(model._meta.label)
    assert differing == []


@pytest.mark.parametrize(
    "role, setting, shown", [(OPS, False, True), ("planner", False, False), ("planner", True, True)]
)
def test_the_dashboard_shows_raw_bytes_to_ops_and_to_planners_only_by_setting(unique, settings, role, setting, shown):
    settings.RAW_MESSAGES_READABLE_BY_PLANNERS = setting
    message = inbound.inbound_message_store(body=f"SECRET-PRICE-{unique}".encode(), source="api")
    user = get_user_model().objects.create_user(username=f"{role}-{unique}")
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    page = client.get(f"/supplier-exceptions/messages/{message.pk}/")
    assert page.status_code == 200
    assert (f"SECRET-PRICE-{unique}" in page.content.decode()) is shown
    assert ('data-testid="raw-withheld"' in page.content.decode()) is not shown
