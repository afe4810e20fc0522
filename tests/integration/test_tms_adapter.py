"""The TMS adapter against a real HTTP server on loopback: timeouts, retries with backoff and jitter,
no retry on 4xx, the circuit breaker shared through the database, and planning through the service.

Retry waits go through an injected sleep function that records them, so no test sleeps.
"""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta

import pytest
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from inventory import services as inventory
from scm.outbound.breaker import BreakerPolicy
from scm.outbound.models import Breaker
from shipments import services
from shipments.adapters.tms import RetryPolicy, TmsClient, TmsLine, TmsPlanRequest
from shipments.exceptions import TmsBadResponse, TmsRejected, TmsUnavailable
from shipments.models import PlanningAttempt, Shipment
from shipments.services import ShipmentLineSpec
from tests.factories import stocked

pytestmark = pytest.mark.django_db

READ_TIMEOUT = 0.3


@pytest.fixture
def tms():
    """A threaded loopback server, so a request held open does not block the retries behind it."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    release = threading.Event()
    server.release = release
    yield server
    release.set()
    server.clear()
    server.stop()


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client(server: HTTPServer, unique: str, *, sleeps: Sleeps | None = None, **kwargs) -> TmsClient:
    options = {
        "base_url": server.url_for("/"),
        "api_key": "secret-key",
        "connect_timeout": 1.0,
        "timeout": READ_TIMEOUT,
        "retry": RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=8.0),
        "breaker": BreakerPolicy(failure_threshold=5, reset_seconds=30),
        "breaker_name": f"tms-{unique}",
        "sleep": sleeps or Sleeps(),
        "rng": lambda: 0.5,
    }
    options.update(kwargs)
    return TmsClient(**options)


def request_for(unique: str) -> TmsPlanRequest:
    return TmsPlanRequest(
        reference=f"order-{unique}",
        plan_key="p1",
        from_location="WH-A",
        lines=(TmsLine("SKU-1", 6),),
        promised_date=date(2031, 3, 1),
        carrier=None,
        service_level="express",
    )


GOOD = {"carrier": "DHL", "tracking_number": "JD000123", "estimated_arrival": "2031-02-27", "service_level": "express"}


def hang_then_answer(server: HTTPServer, hangs: int, answer: dict):
    """The first `hangs` requests get no answer within the read timeout; later ones get `answer`."""
    seen: list[Request] = []
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            seen.append(request)
            number = len(seen)
        if number <= hangs:
            server.release.wait(timeout=10)
            return Response("too late", status=200)
        return Response(json.dumps(answer), status=201, content_type="application/json")

    server.expect_request("/shipments", method="POST").respond_with_handler(handler)
    return seen


def test_tms_that_times_out_twice_then_answers_plans_after_retries(tms, unique):
    seen = hang_then_answer(tms, hangs=2, answer=GOOD)
    sleeps = Sleeps()

    plan = client(tms, unique, sleeps=sleeps).plan(request_for(unique))

    assert (plan.carrier, plan.tracking_number, plan.estimated_arrival, plan.attempts) == (
        "DHL",
        "JD000123",
        date(2031, 2, 27),
        3,
    )
    assert len(seen) == 3
    assert sleeps.waits == [0.75, 1.5], "equal jitter: d/2 + 0.5 * d/2 with d = 1, then 2"
    for request in seen:
        assert request.headers["Authorization"] == "Bearer secret-key"
        assert request.headers["Idempotency-Key"] == f"order-{unique}/p1"
        assert request.get_json() == {
            "reference": f"order-{unique}",
            "plan_key": "p1",
            "from_location": "WH-A",
            "lines": [{"sku": "SKU-1", "qty": 6}],
            "promised_date": "2031-03-01",
            "carrier": None,
            "service_level": "express",
        }
    circuit = Breaker.objects.get(name=f"tms-{unique}")
    assert (circuit.state, circuit.consecutive_failures) == ("closed", 0), "success resets the failure count"


def test_tms_answering_400_is_not_retried_and_says_why(tms, unique):
    tms.expect_request("/shipments", method="POST").respond_with_json(
        {"error": "postcode 0000 is not served"}, status=400
    )
    sleeps = Sleeps()
    with pytest.raises(TmsRejected) as caught:
        client(tms, unique, sleeps=sleeps).plan(request_for(unique))

    error = caught.value
    assert error.retryable is False and error.attempts == 1
    assert error.message == "TMS refused the shipment (HTTP 400): postcode 0000 is not served"
    assert error.fields["reason"] == "postcode 0000 is not served" and error.fields["http_status"] == 400
    assert len(tms.log) == 1 and sleeps.waits == []
    assert not Breaker.objects.filter(name=f"tms-{unique}", consecutive_failures__gt=0).exists()


def test_5xx_is_retried_then_reported_retryable(tms, unique):
    tms.expect_request("/shipments", method="POST").respond_with_data("upstream down", status=503)
    sleeps = Sleeps()
    with pytest.raises(TmsUnavailable) as caught:
        client(tms, unique, sleeps=sleeps).plan(request_for(unique))
    assert caught.value.retryable is True and caught.value.attempts == 3
    assert "HTTP 503: upstream down" in caught.value.message
    assert len(tms.log) == 3 and sleeps.waits == [0.75, 1.5]
    assert Breaker.objects.get(name=f"tms-{unique}").consecutive_failures == 3


def test_retry_after_stretches_the_wait_but_never_beyond_the_cap(tms, unique):
    tms.expect_ordered_request("/shipments").respond_with_data("slow down", status=429, headers={"Retry-After": "5"})
    tms.expect_ordered_request("/shipments").respond_with_data("slow down", status=429, headers={"Retry-After": "99"})
    tms.expect_ordered_request("/shipments").respond_with_json(GOOD)
    sleeps = Sleeps()
    plan = client(tms, unique, sleeps=sleeps).plan(request_for(unique))
    assert plan.tracking_number == "JD000123"
    assert sleeps.waits == [5.0, 8.0]


def test_connection_refused_is_transient(unique):
    with HTTPServer(host="127.0.0.1", port=0) as closed:
        url = closed.url_for("/")
    sleeps = Sleeps()
    with pytest.raises(TmsUnavailable, match="cannot connect to 127.0.0.1:.*Connection refused"):
        TmsClient(base_url=url, sleep=sleeps, rng=lambda: 0.0, breaker_name=f"tms-{unique}").plan(request_for(unique))
    assert sleeps.waits == [0.25, 0.5]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"carrier": "DHL"}, "tracking_number"),
        ({"carrier": "", "tracking_number": "X"}, "carrier"),
        ({"carrier": "DHL", "tracking_number": "X", "estimated_arrival": "next week"}, "estimated_arrival"),
    ],
)
def test_unusable_answer_is_a_bad_response_not_retried(tms, unique, body, field):
    tms.expect_request("/shipments").respond_with_json(body)
    with pytest.raises(TmsBadResponse) as caught:
        client(tms, unique).plan(request_for(unique))
    assert caught.value.retryable is False and caught.value.fields["field"] == field
    assert len(tms.log) == 1


# --- Circuit breaker ----------------------------------------------------------------------------


def test_circuit_opens_after_repeated_failures_and_is_shared_by_every_client(tms, unique):
    tms.expect_request("/shipments").respond_with_data("down", status=500)
    breaker = BreakerPolicy(failure_threshold=3, reset_seconds=30)

    before = timezone.now()
    with pytest.raises(TmsUnavailable):
        client(tms, unique, breaker=breaker).plan(request_for(unique))
    assert len(tms.log) == 3
    row = Breaker.objects.get(name=f"tms-{unique}")
    assert row.state == "open"
    assert before + timedelta(seconds=30) <= row.opened_until <= timezone.now() + timedelta(seconds=30)

    # Another process (its own client object) sees the open circuit and does not call the TMS.
    other = client(tms, unique, breaker=breaker)
    with pytest.raises(TmsUnavailable) as caught:
        other.plan(request_for(unique))
    assert caught.value.fields["circuit"] == "open" and caught.value.attempts == 0
    assert len(tms.log) == 3

    # After the reset time one probe goes out; the TMS is back, so the circuit closes.
    tms.clear()
    tms.expect_request("/shipments").respond_with_json(GOOD)
    Breaker.objects.filter(pk=row.pk).update(opened_until=timezone.now() - timedelta(seconds=1))
    assert other.plan(request_for(unique)).tracking_number == "JD000123"
    row.refresh_from_db()
    assert (row.state, row.consecutive_failures) == ("closed", 0)


# --- Planning through the service ---------------------------------------------------------------


@pytest.fixture
def reserved(unique):
    sku, loc = stocked(unique, on_hand=10)
    inventory.reserve(sku=sku, location=loc, qty=10, holder=f"order-77{unique[:3]}/line-1")
    return sku, loc, f"order-77{unique[:3]}/line-1"


def test_service_plans_through_the_configured_tms_after_timeouts(tms, unique, reserved, settings):
    settings.TMS_BASE_URL = tms.url_for("/")
    settings.TMS_ATTEMPT_TIMEOUT_SECONDS = READ_TIMEOUT
    settings.TMS_BACKOFF_BASE_SECONDS = 0
    settings.TMS_CIRCUIT_NAME = f"tms-{unique}"
    answer = {**GOOD, "carrier": f"TMS-{unique}", "tracking_number": f"TN-{unique}"}
    seen = hang_then_answer(tms, hangs=2, answer=answer)
    sku, loc, holder = reserved

    shipment = services.shipment_plan(
        order_ref=f"order-{unique}", plan_key="g1", from_location=loc, lines=[ShipmentLineSpec(sku, 6, holder)]
    )

    assert (shipment.carrier.code, shipment.tracking_number, shipment.estimated_arrival) == (
        f"TMS-{unique}",
        f"TN-{unique}",
        date(2031, 2, 27),
    )
    attempt = PlanningAttempt.objects.get(order_ref=f"order-{unique}")
    assert (attempt.planner, attempt.outcome, attempt.http_attempts) == ("tms", "planned", 3)

    again = services.shipment_plan(
        order_ref=f"order-{unique}", plan_key="g1", from_location=loc, lines=[ShipmentLineSpec(sku, 6, holder)]
    )
    assert again.pk == shipment.pk and len(seen) == 3, "a repeated plan does not call the TMS again"


def test_service_records_a_tms_refusal_and_plans_nothing(tms, unique, reserved, settings):
    settings.TMS_BASE_URL = tms.url_for("/")
    settings.TMS_CIRCUIT_NAME = f"tms-{unique}"
    tms.expect_request("/shipments").respond_with_json({"message": "hazmat not accepted"}, status=422)
    sku, loc, holder = reserved

    with pytest.raises(TmsRejected, match="hazmat not accepted"):
        services.shipment_plan(
            order_ref=f"order-{unique}", plan_key="g1", from_location=loc, lines=[ShipmentLineSpec(sku, 6, holder)]
        )

    attempt = PlanningAttempt.objects.get(order_ref=f"order-{unique}")
    assert (attempt.outcome, attempt.error_code, attempt.http_attempts) == ("rejected", "tms_rejected", 1)
    assert attempt.error_message == "TMS refused the shipment (HTTP 422): hazmat not accepted"
    assert not Shipment.objects.filter(order_ref=f"order-{unique}").exists()
    assert len(tms.log) == 1


def test_service_reports_an_unavailable_tms_as_retryable(tms, unique, reserved, settings):
    settings.TMS_BASE_URL = tms.url_for("/")
    settings.TMS_CIRCUIT_NAME = f"tms-{unique}"
    settings.TMS_BACKOFF_BASE_SECONDS = 0
    settings.TMS_MAX_ATTEMPTS = 2
    tms.expect_request("/shipments").respond_with_data("", status=502)
    sku, loc, holder = reserved

    with pytest.raises(TmsUnavailable) as caught:
        services.shipment_plan(
            order_ref=f"order-{unique}", plan_key="g1", from_location=loc, lines=[ShipmentLineSpec(sku, 6, holder)]
        )
    assert caught.value.retryable is True
    attempt = PlanningAttempt.objects.get(order_ref=f"order-{unique}")
    assert (attempt.outcome, attempt.error_code, attempt.http_attempts) == ("retryable_failure", "tms_unavailable", 2)
    assert len(tms.log) == 2


def test_each_tms_endpoint_has_its_own_circuit(settings):
    settings.TMS_CIRCUIT_NAME = "tms"
    settings.TMS_BASE_URL = "http://127.0.0.1:8001/api"
    first = TmsClient.from_settings()
    second = TmsClient.from_settings(base_url="http://tms.example:9000/")
    assert (first.breaker_name, second.breaker_name) == ("tms@127.0.0.1:8001", "tms@tms.example:9000")
