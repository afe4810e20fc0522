"""/readyz reports a subscriber that fell too far behind the log, by name."""

from __future__ import annotations

import pytest

from scm.events import store, subscriptions
from scm.events.models import Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def lagging(monkeypatch, unique):
    """Two registered subscribers (and only these): one 3 events behind, one caught up."""
    behind, current = f"behind-{unique}", f"current-{unique}"
    Subscription.objects.create(name=behind, checkpoint=store.head_position())
    for n in range(3):
        store.append_one(f"ready-{unique}", "TestEventRecorded", {"n": n})
    Subscription.objects.create(name=current, checkpoint=store.head_position())
    registry = {name: subscriptions.Subscriber(name=name, handler=lambda event: None) for name in (behind, current)}
    monkeypatch.setattr(subscriptions, "_registry", registry)
    return behind, current


def test_readyz_answers_503_naming_the_subscriber_beyond_the_threshold(client, settings, lagging):
    behind, _ = lagging
    settings.READINESS_MAX_SUBSCRIPTION_LAG = 2
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {
        "database": "ok",
        "subscriptions": f"{behind} is more than 2 events behind",
        "fulfillment": "ok",
    }


def test_readyz_is_ok_at_exactly_the_threshold(client, settings, lagging):
    settings.READINESS_MAX_SUBSCRIPTION_LAG = 3
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "subscriptions": "ok", "fulfillment": "ok"}


def test_readyz_recovers_once_the_subscriber_caught_up(client, settings, lagging):
    behind, _ = lagging
    settings.READINESS_MAX_SUBSCRIPTION_LAG = 0
    assert client.get("/readyz").status_code == 503
    subscriptions.process(subscriptions.Subscriber(name=behind, handler=lambda event: None))
    assert client.get("/readyz").status_code == 200


def test_a_never_run_subscriber_counts_the_whole_log(client, settings, monkeypatch, unique):
    store.append_one(f"ready-{unique}", "TestEventRecorded", {"n": 1})
    name = f"new-{unique}"
    monkeypatch.setattr(subscriptions, "_registry", {name: subscriptions.Subscriber(name=name, handler=print)})
    settings.READINESS_MAX_SUBSCRIPTION_LAG = 0
    assert client.get("/readyz").json()["checks"]["subscriptions"] == f"{name} is more than 0 events behind"


def test_a_negative_threshold_switches_the_lag_check_off(client, settings, lagging):
    settings.READINESS_MAX_SUBSCRIPTION_LAG = -1
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["subscriptions"] == "ok"
