"""A burst of orders through the running system while webhook partners are broken.

The production shape from bench/flow_stack.py on the test database: gunicorn, one real Celery worker
process per queue group on Redis, beat. A burst of orders is posted through the API and measured
until every order has a planned shipment; then a receiver that accepts and never answers and a
port that refuses connections are registered as webhook endpoints and the same burst runs again.
It must settle within twice the clean time (plus a fixed slack, below); the hanging endpoint's
breaker opens; when both partners come back their deliveries resume, and every delivery ends
DELIVERED or DEAD with nothing lost: one shipment per order, one delivery per event per endpoint,
and every delivered event received.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from bench.flow_stack import FlowStack, free_port
from bench.webhook_receiver import WebhookReceiver
from inventory import services as inventory
from orders import services as orders
from orders.models import SalesOrder
from scm.api.services import integration_user_create
from scm.events import subscriptions
from scm.events.models import Event
from scm.outbound.models import Breaker
from scm.outbound.selectors import breaker_get
from scm.webhooks import services as webhooks
from scm.webhooks.models import DeliveryStatus, WebhookDelivery
from scm.webhooks.selectors import webhook_endpoint_get
from shipments import services as shipments
from shipments.models import Carrier, Shipment
from tests.integration.test_workflow_worker_crash import poll

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(240)]

ORDERS, WARM_UP, CLIENTS, SKUS = 40, 8, 8, 6
# Fixed costs of the broken run that do not grow with the burst, so for a burst this small they are
# not covered by "twice the clean time": before its breaker opens the hanging endpoint holds a
# webhook task for up to 2 attempts × the 2 s deadline (on a shared pool while tasks are not yet
# routed to their own queues), the refusing one fails fast, and a step whose kick was taken by a
# busy pool waits for the next sweep (2 s here). 10 s covers both with room for a loaded CI machine.
SLACK_SECONDS = 10.0
STACK_ENV = {
    "SECRET_KEY": "flow-burst-test",
    "WORKFLOW_SWEEP_SECONDS": "2",
    "WEBHOOK_POLL_SECONDS": "1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "0.5",
    "WEBHOOK_BACKOFF_BASE_SECONDS": "0.5",
    "WEBHOOK_BACKOFF_CAP_SECONDS": "1",
    "WEBHOOK_MAX_ATTEMPTS": "50",
    "OUTBOUND_BREAKER_FAILURE_THRESHOLD": "2",
    "OUTBOUND_BREAKER_RESET_SECONDS": "3",
}


def seed(unique: str) -> dict:
    location = inventory.location_upsert(code=f"FB-{unique}", name="Flow burst warehouse").code
    skus = []
    for n in range(SKUS):
        skus.append(inventory.item_upsert(sku=f"FB-{unique}-{n}", name=f"Flow burst item {n}").sku)
        inventory.stock_receive(sku=skus[-1], location=location, qty=100_000)
    customer = orders.customer_upsert(code=f"FB-{unique}", name="Flow burst customer").code
    token = integration_user_create(username=f"flow-burst-{unique}").token
    return {"customer": customer, "skus": skus, "token": token, "unique": unique}


def post_burst(base_url: str, data: dict, label: str, count: int) -> list[str]:
    """`count` orders from CLIENTS concurrent clients; every one must be answered 201."""
    session = requests.Session()
    session.headers["Authorization"] = f"Token {data['token']}"

    def post(n: int) -> str:
        external_id = f"{data['unique']}-{label}-{n}"
        skus = data["skus"]
        body = {
            "customer": data["customer"],
            "external_id": external_id,
            "lines": [{"sku": skus[(n + k) % len(skus)], "qty": k + 1} for k in range(3)],
        }
        response = session.post(f"{base_url}/api/v1/orders/", json=body, headers={"Idempotency-Key": external_id},
                                timeout=60)  # fmt: skip
        assert response.status_code == 201, response.text[:500]
        return f"order-{response.json()['id']}"

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(post, range(count)))


def planned(refs: list[str]) -> int:
    return Shipment.objects.filter(order_ref__in=refs).values("order_ref").distinct().count()


def burst_seconds(
    stack: FlowStack, data: dict, label: str, *, limit: float, count: int = ORDERS
) -> tuple[float, list[str]]:
    """Seconds from the first POST until every order of the burst has a planned shipment."""
    started = time.monotonic()
    refs = post_burst(stack.base_url, data, label, count)
    poll(lambda: planned(refs) == count, seconds=limit, what=f"the {label} burst to be planned ({stack.log_dir})")
    return time.monotonic() - started, refs


def settled_deliveries(endpoint_id: int, start_position: int) -> bool:
    """Every event after the endpoint's start has a delivery, and none is still pending."""
    expected = Event.objects.filter(position__gt=start_position).count()
    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    return deliveries.count() == expected and not deliveries.filter(status=DeliveryStatus.PENDING).exists()


@pytest.fixture
def default_carrier(committed_db, unique):
    previous = Carrier.objects.filter(is_default=True).values_list("code", flat=True).first()
    shipments.carrier_upsert(code=f"FB{unique}", name="Flow burst carrier", is_default=True)
    yield
    if previous:
        shipments.carrier_upsert(code=previous, is_default=True)
    else:
        shipments.carrier_upsert(code=f"FB{unique}", is_default=False)


def catch_up_subscriptions() -> None:
    """Earlier tests leave events their subscribers never saw (they run eagerly with dispatch off);
    the stack's workers would spend the burst working through them, so they are handled first."""
    for subscriber in subscriptions.registered():
        while subscriptions.process(subscriber).handled:
            pass


def test_broken_webhook_partners_do_not_slow_the_order_flow(committed_db, unique, tmp_path, default_carrier):
    data = seed(unique)
    catch_up_subscriptions()
    db = connection.settings_dict
    stack = FlowStack(
        database_url=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        redis_url=os.environ["TEST_REDIS_URL"], log_dir=tmp_path, web_workers=2,
        concurrency={"worker-workflow": 2, "worker-webhooks": 2, "worker-partners": 1}, env=STACK_ENV,
    )  # fmt: skip
    hanging, refusing_port, refusing = WebhookReceiver(hanging=True), free_port(), None
    endpoints: list[int] = []
    try:
        stack.start()
        burst_seconds(stack, data, "warm", limit=90, count=WARM_UP)  # every process imported and connected
        clean, clean_refs = burst_seconds(stack, data, "clean", limit=90)

        for url in (hanging.url, f"http://127.0.0.1:{refusing_port}/hook"):
            endpoints.append(webhooks.webhook_endpoint_create(url=url, secret="whsec-flow-burst-0123456789").pk)
        broken, broken_refs = burst_seconds(stack, data, "broken", limit=2 * clean + SLACK_SECONDS + 30)
        print(f"flow burst of {ORDERS}: clean {clean:.1f} s, broken partners {broken:.1f} s")
        assert broken <= 2 * clean + SLACK_SECONDS, f"clean {clean:.1f} s, broken {broken:.1f} s"

        hanging_id, refusing_id = endpoints
        poll(lambda: breaker_get(name=f"webhook:{hanging_id}").state != "closed", seconds=30,
             what="the hanging endpoint's breaker to open")  # fmt: skip
        hanging.hanging.clear()  # both partners come back
        refusing = WebhookReceiver(refusing_port)
        starts = {e: webhook_endpoint_get(endpoint_id=e).start_position for e in endpoints}
        for endpoint_id in endpoints:
            poll(lambda e=endpoint_id: settled_deliveries(e, starts[e]), seconds=90,
                 what=f"endpoint {endpoint_id}'s deliveries to settle ({stack.log_dir})")  # fmt: skip
        assert breaker_get(name=f"webhook:{hanging_id}").state == "closed"
    finally:
        stack.stop()
        for receiver in (hanging, refusing):
            if receiver is not None:
                receiver.close()

    for refs in (clean_refs, broken_refs):
        assert Shipment.objects.filter(order_ref__in=refs).count() == ORDERS  # one shipment per order
    assert SalesOrder.objects.filter(customer__code=data["customer"], status="RESERVED").count() == 2 * ORDERS + WARM_UP
    for endpoint_id, receiver in zip(endpoints, (hanging, refusing), strict=True):
        deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
        assert set(deliveries.values_list("status", flat=True)) <= {DeliveryStatus.DELIVERED, DeliveryStatus.DEAD}
        delivered = {str(e) for e in deliveries.filter(status="DELIVERED").values_list("event_id", flat=True)}
        assert delivered and delivered <= receiver.event_ids(), "every delivery recorded as DELIVERED was received"
        webhooks.webhook_endpoint_delete(endpoint_id=endpoint_id)
    Breaker.objects.filter(name__in=[f"webhook:{e}" for e in endpoints]).delete()
