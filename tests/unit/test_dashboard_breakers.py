"""The dashboard's webhooks page lists every partner circuit that is not closed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from scm.outbound.breaker import BreakerPolicy, DbBreaker
from scm.roles import PLANNER

pytestmark = pytest.mark.django_db


def test_open_partner_circuits_are_listed_with_their_last_error(unique):
    user = User.objects.create_user(f"planner-{unique}", password="pw")
    user.groups.add(Group.objects.get(name=PLANNER))
    client = Client()
    client.force_login(user)

    DbBreaker(f"supplier-feed:S-{unique}", BreakerPolicy(failure_threshold=1)).record_failure(
        "cannot connect to feed.example:443: Connection refused", probe=False
    )
    DbBreaker(f"carrier-feed:C-{unique}", BreakerPolicy(failure_threshold=3)).record_failure("HTTP 503", probe=False)

    page = client.get("/webhooks/dead/").content.decode()
    section = page[page.index('data-testid="open-breakers"'):]
    assert f"supplier-feed:S-{unique}" in section and "Connection refused" in section
    assert f"carrier-feed:C-{unique}" not in section, "one failure of three: still closed"
