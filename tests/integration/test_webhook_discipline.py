"""Webhook delivery discipline against broken receivers on loopback: the total deadline per attempt,
the per-endpoint breaker (deliveries wait without spending attempts, one probe, recovery in order),
claims handed back unspent, the run's time budget, the in-flight limit across concurrent workers,
and a URL refused at send time recorded as a failed attempt that names the refusal.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from scm.events import store, subscriptions
from scm.events.store import NewEvent
from scm.outbound import policy
from scm.outbound.models import Breaker
from scm.outbound.selectors import breaker_get
from scm.webhooks import services
from scm.webhooks.models import DeliveryStatus, WebhookDelivery
from scm.webhooks.selectors import webhook_endpoints_due
from tests.partners import HangingServer, elapsed

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def tight_budgets(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.4
    settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS = 0.5
    settings.WEBHOOK_MAX_ATTEMPTS = 5
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 1
    settings.WEBHOOK_BACKOFF_CAP_SECONDS = 2
    settings.WEBHOOK_LEASE_SECONDS = 30
    settings.OUTBOUND_BREAKER_FAILURE_THRESHOLD = 2
    settings.OUTBOUND_BREAKER_RESET_SECONDS = 60


@pytest.fixture
def endpoints(committed_db):
    created = []

    def make(url: str):
        endpoint = services.webhook_endpoint_create(url=url, secret=SECRET)
        created.append(endpoint.pk)
        return endpoint

    yield make
    for endpoint_id in created:
        services.webhook_endpoint_delete(endpoint_id=endpoint_id)
    Breaker.objects.filter(name__in=[f"webhook:{pk}" for pk in created]).delete()


def fan_out() -> None:
    [webhooks] = [s for s in subscriptions.registered() if s.name == "webhooks"]
    while subscriptions.process(webhooks).handled:
        pass


def append(stream: str, *numbers: int) -> None:
    for n in numbers:
        store.append(stream, [NewEvent(type="TestEventRecorded", payload={"n": n})])


def statuses(endpoint) -> list[tuple[str, int]]:
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event_position").values_list("status", "attempts")
    )


def later(seconds: float = 60):
    return timezone.now() + timedelta(seconds=seconds)


class Receiver:
    """Answers 200 (after `delay` seconds) and records the payload numbers in arrival order, and the
    most requests it ever had in flight at once."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.got, self.active, self.most_active = delay, [], 0, 0
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.delay)
        with self.lock:
            self.active -= 1
            self.got.append(request.get_json()["payload"]["n"])
        return Response("ok")


def test_a_hanging_endpoint_opens_its_breaker_and_its_deliveries_wait_unspent(endpoints, unique):
    with HangingServer() as hanging:
        endpoint = endpoints(hanging.url)
        for i in range(5):
            append(f"hang{i}-{unique}", 1)
        fan_out()

        started = time.monotonic()
        result = services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=later())
        assert (result.sent, result.retrying) == (2, 2), "two attempts time out, then the breaker opens"
        assert elapsed(started) < 2 * 0.4 + 1.0
        assert sorted(statuses(endpoint)) == [("PENDING", 0)] * 3 + [("PENDING", 1)] * 2
        assert WebhookDelivery.objects.filter(endpoint=endpoint, claimed_until__isnull=False).count() == 0
        view = breaker_get(name=f"webhook:{endpoint.pk}")
        assert view.state == "open" and view.last_error.startswith("no complete answer within the 0.4s budget")
        failed = WebhookDelivery.objects.filter(endpoint=endpoint, attempts=1).first()
        assert failed.last_error == "no complete answer within the 0.4s budget of the attempt"

        # While open: no task is started for it, and a run sends nothing and spends nothing.
        assert endpoint.pk not in webhook_endpoints_due(now=later(600))
        assert services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=later(600)).sent == 0
        assert hanging.accepted == 2
        assert sorted(statuses(endpoint)) == [("PENDING", 0)] * 3 + [("PENDING", 1)] * 2


def test_after_the_reset_one_probe_goes_out_and_its_success_lets_the_backlog_flow_in_order(endpoints, unique):
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        receiver = Receiver()
        server.expect_request("/hook").respond_with_handler(receiver)
        endpoint = endpoints(server.url_for("/hook"))
        append(f"probe-{unique}", 1, 2, 3, 4)
        fan_out()
        name = f"webhook:{endpoint.pk}"
        Breaker.objects.create(
            name=name, state="open", opened_until=timezone.now() + timedelta(seconds=60), consecutive_failures=2
        )
        assert services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=later()).sent == 0
        assert receiver.got == []

        Breaker.objects.filter(name=name).update(opened_until=timezone.now() - timedelta(seconds=1))
        assert endpoint.pk in webhook_endpoints_due(now=later())
        result = services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=later())

        assert (result.sent, result.delivered) == (4, 4)
        assert receiver.got == [1, 2, 3, 4], "the probe first, then the rest, in stream order"
        assert receiver.most_active == 1
        assert breaker_get(name=name).state == "closed"
        assert statuses(endpoint) == [("DELIVERED", 1)] * 4


def test_a_hanging_endpoint_delays_only_its_own_deliveries(endpoints, unique):
    with HangingServer() as hanging, HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        receiver = Receiver()
        server.expect_request("/hook").respond_with_handler(receiver)
        slow, fine = endpoints(hanging.url), endpoints(server.url_for("/hook"))
        for i in range(6):
            append(f"mix{i}-{unique}", i)
        fan_out()

        started = time.monotonic()
        services.webhook_deliveries_send_due(now=later())
        assert sorted(receiver.got) == list(range(6))
        assert statuses(fine) == [("DELIVERED", 1)] * 6
        assert elapsed(started) < 2 * 0.4 + 2.0, "the hanging endpoint cost two deadlines, then its breaker opened"
        assert hanging.accepted == 2 and breaker_get(name=f"webhook:{slow.pk}").state == "open"


def test_a_run_stops_at_its_time_budget_and_hands_back_what_it_did_not_send(endpoints, unique, settings):
    settings.WEBHOOK_RUN_BUDGET_SECONDS = 1.0
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        receiver = Receiver(delay=0.3)
        server.expect_request("/hook").respond_with_handler(receiver)
        endpoint = endpoints(server.url_for("/hook"))
        for i in range(10):
            append(f"budget{i}-{unique}", i)
        fan_out()

        started = time.monotonic()
        result = services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=later())
        assert 3 <= result.sent <= 5 and elapsed(started) < 1.0 + 0.3 + 0.5
        rows = statuses(endpoint)
        assert rows.count(("DELIVERED", 1)) == result.sent
        assert rows.count(("PENDING", 0)) == 10 - result.sent, "unsent claims were handed back unspent"
        assert not WebhookDelivery.objects.filter(endpoint=endpoint, claimed_until__isnull=False).exists()


@pytest.mark.postgres
def test_concurrent_workers_never_exceed_the_endpoints_in_flight_limit(endpoints, unique, settings):
    settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT = 2
    settings.WEBHOOK_CLAIM_SLICE = 1
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as server:
        receiver = Receiver(delay=0.2)
        server.expect_request("/hook").respond_with_handler(receiver)
        endpoint = endpoints(server.url_for("/hook"))
        for i in range(12):
            append(f"flight{i}-{unique}", i)
        fan_out()
        now, barrier, errors = later(), threading.Barrier(5), []

        def worker():
            try:
                barrier.wait(timeout=30)
                services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=now)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        while services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=now).sent:
            pass

    assert errors == []
    assert sorted(receiver.got) == list(range(12))
    assert receiver.most_active == 2, "five workers, but never more than two attempts in flight"
    assert statuses(endpoint) == [("DELIVERED", 1)] * 12


@pytest.mark.usefixtures("strict_outbound")
def test_a_url_that_rebinds_to_loopback_is_a_failed_attempt_naming_the_refusal(endpoints, unique, monkeypatch):
    with HTTPServer(host="127.0.0.1", port=0) as server:
        server.expect_request("/hook").respond_with_data("ok")
        answers = iter([["93.184.216.34"]])
        real = policy.resolver

        def resolve(host, port):  # public at save time, loopback from then on (DNS rebinding)
            if host != "hooks.rebind.example":
                return real(host, port)
            return [ipaddress.ip_address(a) for a in next(answers, ["127.0.0.1"])]

        monkeypatch.setattr(policy, "resolver", resolve)
        endpoint = endpoints(f"http://hooks.rebind.example:{server.port}/hook")
        append(f"rebind-{unique}", 1)
        fan_out()

        result = services.webhook_endpoint_send_due(endpoint_id=endpoint.pk, now=later())

        delivery = WebhookDelivery.objects.get(endpoint=endpoint)
        assert (result.sent, result.retrying, delivery.attempts, delivery.last_status_code) == (1, 1, 1, None)
        assert delivery.last_error.startswith(
            f"Refused by the outbound policy: hooks.rebind.example resolves to 127.0.0.1:{server.port}, "
            "a loopback address"
        )
        assert server.log == []
        assert breaker_get(name=f"webhook:{endpoint.pk}").consecutive_failures == 0, "not the receiver's fault"
        assert delivery.status == DeliveryStatus.PENDING
