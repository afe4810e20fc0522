"""The outbox against a partner endpoint that is down (HTTPS POST to a loopback server that answers
503, then nothing at all): every try is recorded with exponential backoff, the breaker opens, the
document dead-letters, shows on the dashboard, is resent by ops and then delivered — and meanwhile
order fulfilment goes on untouched. Time is driven by moving entries' due time, nothing sleeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services as orders
from orders.models import OrderStatus
from partners import services as outbox
from partners import transmit
from partners.connections import partner_connection_save
from partners.models import OUT, AttemptOutcome, OutboxEntry, PartnerConnection
from scm.events import subscriptions
from tests.factories import stocked
from tests.partner_trade import TEST_SECRETS_KEY, event_types, make_trade, send_order
from tests.unit.test_dashboard import login

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def transport_settings(settings):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False
    settings.PARTNER_CONNECT_TIMEOUT_SECONDS = 2
    settings.PARTNER_TIMEOUT_SECONDS = 5
    settings.PARTNER_MAX_ATTEMPTS = 4
    settings.PARTNER_BACKOFF_BASE_SECONDS = 10
    settings.PARTNER_BACKOFF_CAP_SECONDS = 40
    settings.PARTNER_BREAKER_THRESHOLD = 3
    settings.PARTNER_BREAKER_RESET_SECONDS = 60


class Partner:
    """Answers with the statuses the test scripts, and records what it got."""

    def __init__(self) -> None:
        self.status = 503
        self.got: list[tuple[dict, bytes]] = []

    def __call__(self, request):
        from werkzeug import Response

        self.got.append((dict(request.headers), request.get_data()))
        return Response("down" if self.status >= 300 else "ok", status=self.status)


@pytest.fixture
def partner(httpserver):
    handler = Partner()
    httpserver.expect_request("/edi", method="POST").respond_with_handler(handler)
    return handler


@pytest.fixture
def trade(unique, httpserver):
    trade = make_trade(unique)
    partner_connection_save(
        supplier=trade.supplier.code,
        secrets_given={"https_auth": f"Bearer tok-{unique}"},
        protocol="https",
        https_url=httpserver.url_for("/edi"),
    )
    return trade


def try_when_due(entry: OutboxEntry) -> str:
    """Jump the clock to the entry's due time (and past an open breaker), then try once."""
    entry.refresh_from_db()
    PartnerConnection.objects.filter(pk=entry.connection_id).update(breaker_open_until=None)
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    return transmit.outbox_entry_transmit(entry_id=entry.pk)


def test_a_partner_that_is_down_retries_with_backoff_then_dead_letters_and_ops_resend_it(trade, partner, unique):
    entry = send_order(trade)
    before = timezone.now()

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.QUEUED
    entry.refresh_from_db()
    assert before + timedelta(seconds=5) <= entry.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == ""  # not due yet: no second call
    assert len(partner.got) == 1
    assert partner.got[0][0]["Authorization"] == f"Bearer tok-{unique}"

    assert [try_when_due(entry) for _ in range(3)] == [OUT.QUEUED, OUT.QUEUED, OUT.DEAD]
    entry.refresh_from_db()
    assert [a.outcome for a in entry.delivery_attempts.all()] == [AttemptOutcome.RETRY] * 3 + [AttemptOutcome.DEAD]
    assert entry.last_error.endswith("HTTP 503 from " + trade.supplier.partner_connection.https_url + ": down")
    assert "PartnerDocumentDeadLettered" in event_types(trade.order.stream)

    ops = login("ops", unique)
    page = ops.get("/transport/dead/")
    assert page.status_code == 200 and trade.order.number in page.content.decode()
    po_page = ops.get(f"/purchase-orders/{trade.order.number}/").content.decode()
    assert "Transmission failed (dead letter)" in po_page and "Resend" in po_page
    assert login("planner", unique).post(f"/transport/outbox/{entry.pk}/resend/").status_code == 403

    partner.status = 200
    response = ops.post(f"/transport/outbox/{entry.pk}/resend/")
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.status, entry.attempts) == (OUT.QUEUED, 0)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED
    assert partner.got[-1][1] == bytes(entry.document.body)
    assert event_types(trade.order.stream)[-3:] == [
        "PartnerDocumentResent",
        "PartnerDocumentTransmitted",
        "PartnerDocumentDelivered",
    ]


def test_the_breaker_opens_after_failures_in_a_row_and_holds_tries_without_spending_them(trade, partner):
    entry = send_order(trade)
    for _ in range(3):
        try_when_due(entry) if _ else transmit.outbox_entry_transmit(entry_id=entry.pk)
    connection = PartnerConnection.objects.get(pk=entry.connection_id)
    assert connection.consecutive_failures == 3 and connection.breaker_open_until > timezone.now()

    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == ""
    entry.refresh_from_db()
    assert entry.attempts == 3 and len(partner.got) == 3
    assert entry.next_attempt_at == connection.breaker_open_until


def test_a_refusing_partner_is_not_retried(trade, partner):
    partner.status = 400
    entry = send_order(trade)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD
    assert len(partner.got) == 1


def test_an_unreachable_partner_fails_within_its_budget(trade, settings):
    from partners.connections import partner_connection_save as save

    save(supplier=trade.supplier.code, https_url="http://127.0.0.1:9/edi")  # discard port: refused
    entry = send_order(trade)
    started = timezone.now()
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.QUEUED
    assert timezone.now() - started < timedelta(seconds=settings.PARTNER_CONNECT_TIMEOUT_SECONDS + 3)
    entry.refresh_from_db()
    assert "ConnectionError" in entry.last_error


def test_order_fulfilment_is_unaffected_while_a_partner_is_down(trade, partner, unique):
    entry = send_order(trade)
    try_when_due(entry)
    sku, warehouse = stocked(unique, on_hand=5, sku="F", location="WF")
    orders.customer_upsert(code=f"C-{unique}", name="Customer")

    order, _ = orders.order_create(
        customer=f"C-{unique}", external_id=f"SO-{unique}", lines=[{"sku": sku, "qty": 3}], start_workflow=False
    )
    from orders import workflow

    assert workflow.run_step(order.pk).outcome == "done"
    order.refresh_from_db()
    assert order.status == OrderStatus.RESERVED
    entry.refresh_from_db()
    assert entry.status == OUT.QUEUED


def test_the_subscription_queues_the_850_of_a_sent_order_once(trade, partner):
    from suppliers import services

    services.purchase_order_send(po_id=trade.order.pk)
    [subscriber] = [s for s in subscriptions.registered() if s.name == "partners.outbox"]
    while subscriptions.process(subscriber).handled:
        pass
    [entry] = OutboxEntry.objects.filter(purchase_order=trade.order.number)
    assert (entry.kind, entry.status, entry.protocol) == ("850", OUT.QUEUED, "https")
    assert outbox.outbox_enqueue(document_id=entry.document_id).pk == entry.pk
    assert event_types(trade.order.stream).count("PartnerDocumentQueued") == 1


def test_documents_built_before_the_connection_existed_are_not_sent(unique):
    trade = make_trade(unique)
    from suppliers import services

    document = services.purchase_order_send(po_id=trade.order.pk)
    partner_connection_save(supplier=trade.supplier.code, protocol="https", https_url="https://partner.example/edi")
    assert outbox.outbox_enqueue(document_id=document.pk) is None
    assert outbox.outbox_enqueue_missing(older_than_seconds=0) == []
