"""Logins are throttled (django-axes): the dashboard, the admin and the token endpoint share one count.

The security pass tried 30 wrong passwords and then the right one on `/accounts/login/` and on
`/admin/login/`: the right one logged in. Now the right password is refused once the limit is
reached (429), until the cool-off passes or ops reset the lockout (`axes_reset_username`).
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from scm.roles import PLANNER
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
WRONG_TRIES = 30


@pytest.fixture
def user(unique, settings):
    # The token endpoint's own throttle counts per client address in the cache, across tests: start
    # from zero so the lockout, not an earlier test's token requests, is what answers here.
    cache.clear()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast: the test logs in ~40 times
    person = get_user_model().objects.create_user(username=f"lock-{unique}", password=PASSWORD, is_staff=True)
    person.groups.add(Group.objects.get(name=PLANNER))
    return person


def _form_login(client: Client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password})


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _reset(username: str) -> None:
    call_command("axes_reset_username", username, stdout=io.StringIO())


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_thirty_wrong_passwords_then_the_right_one_is_refused_until_reset(user, url):
    client = Client()
    statuses = [_form_login(client, url, user.username, "wrong").status_code for _ in range(WRONG_TRIES)]
    assert statuses[:9] == [200] * 9  # the form again, "wrong username or password"
    assert set(statuses[10:]) == {429}

    refused = _form_login(client, url, user.username, PASSWORD)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "1800"
    assert b"Too many failed logins" in refused.content
    assert not _logged_in(client)

    _reset(user.username)
    admitted = _form_login(client, url, user.username, PASSWORD)
    assert admitted.status_code == 302
    assert _logged_in(client)


def test_the_token_endpoint_is_locked_out_the_same_way_and_answers_json(user):
    client = APIClient()
    for _ in range(WRONG_TRIES):
        client.post("/api/v1/auth/token/", {"username": user.username, "password": "wrong"}, format="json")
    refused = client.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    error = assert_error(refused, 429, "locked_out")
    assert error["fields"] == {"retry_after_seconds": 1800}
    assert refused["Retry-After"] == "1800"
    assert "token" not in refused.content.decode()

    _reset(user.username)
    admitted = client.post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert admitted.status_code == 200 and admitted.json()["token"]


def test_failures_at_the_token_endpoint_lock_the_dashboard_login_too(user):
    api = APIClient()
    for _ in range(10):
        api.post("/api/v1/auth/token/", {"username": user.username, "password": "wrong"}, format="json")
    browser = Client()
    assert _form_login(browser, "/accounts/login/", user.username, PASSWORD).status_code == 429
    assert not _logged_in(browser)


def test_the_lockout_is_per_username_and_address_so_others_still_log_in(user, unique):
    other = get_user_model().objects.create_user(username=f"other-{unique}", password=PASSWORD)
    client = Client()
    for _ in range(WRONG_TRIES):
        _form_login(client, "/accounts/login/", user.username, "wrong")
    assert _form_login(client, "/accounts/login/", other.username, PASSWORD).status_code == 302
    elsewhere = Client(REMOTE_ADDR="10.9.8.7")
    assert _form_login(elsewhere, "/accounts/login/", user.username, PASSWORD).status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(user):
    client = Client()
    for n in range(WRONG_TRIES):
        client.post("/accounts/login/", {"username": user.username, "password": "wrong"},
                    HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")  # fmt: skip
    refused = client.post(
        "/accounts/login/", {"username": user.username, "password": PASSWORD}, HTTP_X_FORWARDED_FOR="198.51.100.1"
    )
    assert refused.status_code == 429
