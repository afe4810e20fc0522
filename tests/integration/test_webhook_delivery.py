"""Webhook delivery end to end: events fan out into deliveries that a real loopback receiver gets, signed.

Time is driven by passing `now` into the sending service; backoff settings are small so that a
few steps of the clock cover every retry. Nothing sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from werkzeug import Request, Response

from scm.events import store, subscriptions
from scm.events.store import NewEvent
from scm.observability import metrics
from scm.webhooks import services, signing
from scm.webhooks.exceptions import DeliveryNotDead
from scm.webhooks.models import DeliveryStatus, WebhookDelivery

SECRET = "whsec-test-0123456789abcdef"
BASE, CAP, LEASE = 1.0, 8.0, 30.0
STEP = timedelta(seconds=CAP + LEASE + 1)  # one step of the clock makes any retry (or lost claim) due


@pytest.fixture(autouse=True)
def small_backoff(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = BASE
    settings.WEBHOOK_BACKOFF_CAP_SECONDS = CAP
    settings.WEBHOOK_LEASE_SECONDS = LEASE
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_TIMEOUT_SECONDS = 5


@pytest.fixture
def endpoints(committed_db):
    """Creates endpoints through the service and removes them (and their deliveries) afterwards."""
    created = []

    def make(url: str, **options):
        endpoint = services.webhook_endpoint_create(url=url, secret=options.pop("secret", SECRET), **options)
        created.append(endpoint.pk)
        return endpoint

    yield make
    for endpoint_id in created:
        services.webhook_endpoint_delete(endpoint_id=endpoint_id)


def fan_out() -> None:
    """Run the registered `webhooks` subscription over the log, as beat or the commit hook would."""
    [webhooks] = [s for s in subscriptions.registered() if s.name == "webhooks"]
    while subscriptions.process(webhooks).handled:
        pass


def append(stream: str, *numbers: int) -> list[int]:
    return [store.append(stream, [NewEvent(type="TestEventRecorded", payload={"n": n})])[0].position for n in numbers]


def body_of(request: Request) -> dict:
    return json.loads(request.get_data())


def expected_signature(secret: str, request: Request) -> str:
    signed = request.headers[signing.TIMESTAMP_HEADER].encode() + b"." + request.get_data()
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Receiver:
    """Answers with the statuses a test scripts; records every request it got and what it answered."""

    def __init__(self, answer):
        self.answer = answer
        self.got: list[tuple[Request, int]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        with self.lock:
            status = self.answer(request, len(self.got))
            self.got.append((request, status))
        return Response("ok" if status < 300 else "down", status=status)

    def seen(self) -> list[tuple[str, int, int]]:
        return [(body_of(r)["stream"], body_of(r)["payload"]["n"], status) for r, status in self.got]


def run_until_settled(endpoint_id: int, start, steps: int = 12):
    now = start
    for _ in range(steps):
        services.webhook_deliveries_send_due(now=now, endpoint_id=endpoint_id)
        if not WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).exists():
            return now
        now += STEP
    raise AssertionError("deliveries did not settle")


def test_a_receiver_that_fails_three_times_gets_the_event_once_successfully_and_validly_signed(
    endpoints, httpserver, unique
):
    receiver = Receiver(lambda request, n: 500 if n < 3 else 200)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"))
    [position] = append(f"wh-{unique}", 42)
    fan_out()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    start = timezone.now() + timedelta(minutes=1)

    services.webhook_deliveries_send_due(now=start, endpoint_id=endpoint.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("PENDING", 1, 500)
    assert delivery.last_error == "HTTP 500: down"
    assert start + timedelta(seconds=BASE / 2) <= delivery.next_attempt_at <= start + timedelta(seconds=BASE)

    finished_at = run_until_settled(endpoint.pk, start + STEP)
    delivery.refresh_from_db()

    assert [status for _, status in receiver.got] == [500, 500, 500, 200]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("DELIVERED", 4, 200)
    assert delivery.delivered_at == finished_at and delivery.last_error == ""
    recorded = store.read_stream(f"wh-{unique}")[0]
    for request, _ in receiver.got:
        assert request.headers[signing.SIGNATURE_HEADER] == expected_signature(SECRET, request)
        assert request.headers[signing.EVENT_ID_HEADER] == str(recorded.event_id)
        assert request.headers[signing.EVENT_TYPE_HEADER] == "TestEventRecorded"
        assert request.headers[signing.DELIVERY_ID_HEADER] == str(delivery.pk)
        assert request.headers["Content-Type"] == "application/json"
        assert signing.verify(
            SECRET,
            timestamp=request.headers[signing.TIMESTAMP_HEADER],
            body=request.get_data(),
            signature=request.headers[signing.SIGNATURE_HEADER],
        )
    body = body_of(receiver.got[-1][0])
    assert body["position"] == position and body["event_id"] == str(recorded.event_id)
    assert body["payload"] == {"n": 42} and body["type"] == "TestEventRecorded"
    assert len({r.get_data() for r, _ in receiver.got}) == 1  # every attempt sent the same bytes
    assert services.webhook_deliveries_send_due(now=finished_at + STEP * 5, endpoint_id=endpoint.pk).sent == 0
    httpserver.check_assertions()


def test_a_receiver_that_always_fails_ends_dead_after_max_attempts_with_backoff_growing(endpoints, httpserver, unique):
    receiver = Receiver(lambda request, n: 503)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"))
    append(f"wh-{unique}", 1)
    fan_out()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    now, waits = timezone.now() + timedelta(minutes=1), []
    dead_letters = metrics.webhook_dead_letters._value.get()
    for _ in range(3):
        services.webhook_deliveries_send_due(now=now, endpoint_id=endpoint.pk)
        delivery.refresh_from_db()
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now += STEP
    services.webhook_deliveries_send_due(now=now, endpoint_id=endpoint.pk)
    delivery.refresh_from_db()

    assert [0.5 <= waits[0] <= 1, 1 <= waits[1] <= 2, 2 <= waits[2] <= 4] == [True, True, True]
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("DEAD", 4, 503)
    assert delivery.last_error == "HTTP 503: down" and delivery.delivered_at is None
    assert metrics.webhook_dead_letters._value.get() == dead_letters + 1
    assert len(receiver.got) == 4
    assert services.webhook_deliveries_send_due(now=now + STEP * 10, endpoint_id=endpoint.pk).sent == 0
    assert len(receiver.got) == 4


def test_events_of_one_stream_arrive_in_order_while_other_streams_go_ahead(endpoints, httpserver, unique):
    first_try_of_a1 = {"failed": False}

    def answer(request: Request, n: int) -> int:
        event = body_of(request)
        if event["stream"] == f"a-{unique}" and event["payload"]["n"] == 1 and not first_try_of_a1["failed"]:
            first_try_of_a1["failed"] = True
            return 500
        return 200

    receiver = Receiver(answer)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"))
    append(f"a-{unique}", 1)
    append(f"b-{unique}", 1)
    append(f"a-{unique}", 2)
    fan_out()
    start = timezone.now() + timedelta(minutes=1)

    services.webhook_deliveries_send_due(now=start, endpoint_id=endpoint.pk)
    assert receiver.seen() == [(f"a-{unique}", 1, 500), (f"b-{unique}", 1, 200)]  # a-2 waits behind a-1

    services.webhook_deliveries_send_due(now=start + STEP, endpoint_id=endpoint.pk)
    assert receiver.seen()[2:] == [(f"a-{unique}", 1, 200), (f"a-{unique}", 2, 200)]
    assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == {"DELIVERED"}


def test_a_dead_delivery_holds_back_its_stream_until_redelivered(endpoints, httpserver, unique, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    receiver_up = {"up": False}
    receiver = Receiver(lambda request, n: 200 if receiver_up["up"] else 500)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"))
    append(f"a-{unique}", 1, 2)
    fan_out()
    first, second = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("event_position")
    now = timezone.now() + timedelta(minutes=1)

    services.webhook_deliveries_send_due(now=now, endpoint_id=endpoint.pk)
    services.webhook_deliveries_send_due(now=now + STEP, endpoint_id=endpoint.pk)
    services.webhook_deliveries_send_due(now=now + STEP * 2, endpoint_id=endpoint.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts) == ("DEAD", 2)
    assert (second.status, second.attempts) == ("PENDING", 0)  # never sent: its stream is blocked
    assert receiver.seen() == [(f"a-{unique}", 1, 500), (f"a-{unique}", 1, 500)]

    with pytest.raises(DeliveryNotDead):
        services.webhook_delivery_redeliver(delivery_id=second.pk)

    receiver_up["up"] = True
    redelivered = services.webhook_delivery_redeliver(delivery_id=first.pk, now=now + STEP * 3)
    assert (redelivered.status, redelivered.attempts) == ("PENDING", 0)
    services.webhook_deliveries_send_due(now=now + STEP * 3, endpoint_id=endpoint.pk)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts, second.status, second.attempts) == ("DELIVERED", 1, "DELIVERED", 1)
    assert receiver.seen()[2:] == [(f"a-{unique}", 1, 200), (f"a-{unique}", 2, 200)]
    with pytest.raises(DeliveryNotDead):
        services.webhook_delivery_redeliver(delivery_id=first.pk)


def test_an_unreachable_receiver_records_the_connection_error(endpoints, unique):
    endpoint = endpoints("http://127.0.0.1:1/hook")  # nothing listens on port 1
    append(f"wh-{unique}", 1)
    fan_out()

    result = services.webhook_deliveries_send_due(now=timezone.now() + timedelta(minutes=1), endpoint_id=endpoint.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (result.sent, result.retrying) == (1, 1)
    assert delivery.last_status_code is None
    assert delivery.last_error == "cannot connect to 127.0.0.1:1: Connection refused"


def test_a_claim_whose_worker_was_lost_becomes_due_again_after_the_lease(endpoints, httpserver, unique):
    receiver = Receiver(lambda request, n: 200)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"))
    append(f"wh-{unique}", 1)
    fan_out()
    now = timezone.now() + timedelta(minutes=1)

    [claim] = services._claim_due(now=now, limit=10, endpoint_id=endpoint.pk)  # a worker claims, then dies
    before_lease_ends, at_lease_end = now + timedelta(seconds=LEASE - 1), now + timedelta(seconds=LEASE)
    assert services.webhook_deliveries_send_due(now=before_lease_ends, endpoint_id=endpoint.pk).sent == 0
    assert services.webhook_deliveries_send_due(now=at_lease_end, endpoint_id=endpoint.pk).sent == 1

    delivery = WebhookDelivery.objects.get(pk=claim.delivery_id)
    assert (delivery.status, delivery.attempts, len(receiver.got)) == ("DELIVERED", 2, 1)


def test_fan_out_respects_types_activity_and_creation_time_and_is_idempotent(endpoints, unique):
    early = append(f"wh-{unique}", 0)[0]
    every = endpoints("http://127.0.0.1:1/all")
    typed = endpoints("http://127.0.0.1:1/typed", event_types=["TestSampleUpcast"])
    paused = endpoints("http://127.0.0.1:1/paused", active=False)
    [counted] = append(f"wh-{unique}", 1)
    [upcast] = [
        e.position
        for e in store.append(
            f"wh-{unique}", [NewEvent(type="TestSampleUpcast", payload={"first_name": "A", "last_name": "B"})]
        )
    ]
    fan_out()

    def positions(endpoint) -> list[int]:
        return sorted(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_position", flat=True))

    assert positions(every) == [counted, upcast]  # not `early`: it predates the endpoint
    assert positions(typed) == [upcast]
    assert positions(paused) == []
    assert early <= every.start_position < counted

    event = store.read_stream(f"wh-{unique}")[1]
    services.webhook_deliveries_fan_out(event)  # a redelivered subscription event
    assert positions(every) == [counted, upcast]


def test_sending_refuses_to_run_inside_a_transaction(committed_db):
    from django.db import transaction

    with transaction.atomic(), pytest.raises(RuntimeError, match="must not run inside a transaction"):
        services.webhook_deliveries_send_due()


@pytest.mark.postgres
def test_concurrent_workers_deliver_each_event_exactly_once_and_in_order_per_stream(endpoints, httpserver, unique):
    receiver = Receiver(lambda request, n: 200)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"))
    streams = [f"c{i}-{unique}" for i in range(3)]
    for n in range(1, 9):
        for stream in streams:
            append(stream, n)
    fan_out()
    now = timezone.now() + timedelta(minutes=1)
    barrier, errors = threading.Barrier(4), []

    def worker():
        try:
            barrier.wait(timeout=30)
            for _ in range(30):
                services.webhook_deliveries_send_due(now=now, endpoint_id=endpoint.pk, limit=3)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    seen = receiver.seen()
    assert len(seen) == 24
    assert sorted(seen) == sorted((stream, n, 200) for stream in streams for n in range(1, 9))
    for stream in streams:
        assert [n for s, n, _ in seen if s == stream] == list(range(1, 9))
    assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("status", "attempts")) == {
        ("DELIVERED", 1)
    }


def test_with_dispatch_on_commit_an_appended_event_reaches_the_receiver_without_any_explicit_step(
    endpoints, httpserver, unique, settings
):
    from celery import current_app
    from django.db import transaction

    if not current_app.conf.task_always_eager:
        pytest.skip("needs eager Celery (REDIS_URL unset): the kicks run in-process")
    settings.EVENT_DISPATCH_ON_COMMIT = True
    receiver = Receiver(lambda request, n: 204)
    httpserver.expect_request("/hook", method="POST").respond_with_handler(receiver)
    endpoint = endpoints(httpserver.url_for("/hook"), event_types=["TestEventRecorded"])

    with transaction.atomic():
        append(f"auto-{unique}", 1)
        assert receiver.got == []  # nothing leaves before the commit

    assert receiver.seen() == [(f"auto-{unique}", 1, 204)]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("DELIVERED", 1, 204)
