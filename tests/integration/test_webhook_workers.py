"""Webhook delivery by real Celery worker processes on Redis, with broken receivers on loopback: one
healthy, one that accepts and never answers, one whose port refuses connections. The healthy
receiver gets everything promptly; the broken ones open their breakers and cost only their own
deliveries; when they come back, a probe closes each breaker and every delivery ends DELIVERED, in
order per stream. The test plays beat: it sends the dispatcher task twice a second.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from bench.webhook_receiver import WebhookReceiver
from scm import queues
from scm.events import store, subscriptions
from scm.events.store import NewEvent
from scm.outbound.models import Breaker
from scm.outbound.selectors import breaker_get
from scm.webhooks import services
from scm.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.integration.test_workflow_worker_crash import poll, start_worker, stop

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-test-0123456789abcdef"
STREAMS, PER_STREAM = 5, 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def delivered(endpoint) -> int:
    return WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.DELIVERED).count()


def test_broken_receivers_delay_only_their_own_deliveries_and_catch_up_when_back(committed_db, unique, tmp_path):
    redis_url = os.environ["TEST_REDIS_URL"]
    healthy, hanging = WebhookReceiver(), WebhookReceiver(hanging=True)
    refusing_port = free_port()
    endpoints = {
        "healthy": services.webhook_endpoint_create(url=healthy.url, secret=SECRET),
        "hanging": services.webhook_endpoint_create(url=hanging.url, secret=SECRET),
        "refusing": services.webhook_endpoint_create(url=f"http://127.0.0.1:{refusing_port}/hook", secret=SECRET),
    }
    streams = [f"ww{i}-{unique}" for i in range(STREAMS)]
    for n in range(1, PER_STREAM + 1):
        for stream in streams:
            store.append(stream, [NewEvent(type="TestEventRecorded", payload={"n": n})])
    [webhooks] = [s for s in subscriptions.registered() if s.name == "webhooks"]
    while subscriptions.process(webhooks).handled:
        pass
    total = STREAMS * PER_STREAM

    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "webhook-workers-test",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEBHOOK_TIMEOUT_SECONDS": "1",
        "WEBHOOK_CONNECT_TIMEOUT_SECONDS": "0.5",
        "WEBHOOK_BACKOFF_BASE_SECONDS": "0.5",
        "WEBHOOK_BACKOFF_CAP_SECONDS": "1",
        "WEBHOOK_MAX_ATTEMPTS": "50",
        "OUTBOUND_BREAKER_FAILURE_THRESHOLD": "2",
        "OUTBOUND_BREAKER_RESET_SECONDS": "3",
        "EVENT_DISPATCH_ON_COMMIT": "0",
    }
    client = Celery("webhook-workers-test", broker=redis_url, set_as_current=False)
    client.conf.task_routes = queues.task_routes()  # a bare client would send to "celery"
    log = tmp_path / "worker.log"
    worker = start_worker(env, log, "--pool=prefork", "--concurrency=2")
    poll(lambda: "ready." in log.read_text(), seconds=60, what="the worker to start")
    beat_stop = threading.Event()

    def beat():
        while not beat_stop.wait(0.5):
            client.send_task("scm.webhooks.tasks.deliver_due_webhooks")

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    refusing = None
    try:
        started = time.monotonic()
        poll(lambda: delivered(endpoints["healthy"]) == total, seconds=30, what="the healthy receiver")
        healthy_took = time.monotonic() - started
        poll(
            lambda: breaker_get(name=f"webhook:{endpoints['hanging'].pk}").state != "closed",
            seconds=30,
            what="the hanging receiver's breaker",
        )
        poll(
            lambda: breaker_get(name=f"webhook:{endpoints['refusing'].pk}").state != "closed",
            seconds=30,
            what="the refusing receiver's breaker",
        )
        # Two 1 s deadlines of the hanging receiver at most share a process with it; 10 s would mean
        # the healthy deliveries queued behind the broken ones.
        assert healthy_took < 5, log.read_text()[-3000:]

        hanging.hanging.clear()  # both come back
        refusing = WebhookReceiver(refusing_port)
        for name in ("hanging", "refusing"):
            poll(lambda name=name: delivered(endpoints[name]) == total, seconds=60, what=f"{name} to catch up")
            assert breaker_get(name=f"webhook:{endpoints[name].pk}").state == "closed"
    finally:
        beat_stop.set()
        ticker.join(timeout=5)
        stop(worker)
        for receiver in (healthy, hanging, refusing):
            if receiver is not None:
                receiver.close()

    expected = {(stream, n) for stream in streams for n in range(1, PER_STREAM + 1)}
    for receiver in (healthy, hanging, refusing):
        got = [(body["stream"], body["payload"]["n"]) for _, body in receiver.deliveries]
        assert set(got) == expected, "every event arrived (at least once)"
        for stream in streams:
            assert [n for s, n in got if s == stream] == sorted(n for s, n in got if s == stream)
    for endpoint in endpoints.values():
        assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("status", flat=True)) == {"DELIVERED"}
        services.webhook_endpoint_delete(endpoint_id=endpoint.pk)
    Breaker.objects.filter(name__in=[f"webhook:{e.pk}" for e in endpoints.values()]).delete()
