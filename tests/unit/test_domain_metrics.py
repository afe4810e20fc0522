"""Domain counters move when their actions happen."""

from __future__ import annotations

import pytest

from inventory import services as inventory
from inventory.exceptions import InsufficientStock
from orders import services as orders
from orders.exceptions import DuplicateExternalId
from scm.observability import metrics
from suppliers import inbound
from tests.factories import stocked

pytestmark = pytest.mark.django_db


def value(counter) -> float:
    return counter._value.get()


def test_orders_created_counts_committed_orders_only(unique, django_capture_on_commit_callbacks):
    sku, _ = stocked(unique)
    orders.customer_upsert(code=f"M-{unique}", name="Metrics customer")
    before = value(metrics.orders_created)
    with django_capture_on_commit_callbacks(execute=True):
        orders.order_create(
            customer=f"M-{unique}", external_id="m1", lines=[{"sku": sku, "qty": 1}], start_workflow=False
        )
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(DuplicateExternalId):
        orders.order_create(
            customer=f"M-{unique}", external_id="m1", lines=[{"sku": sku, "qty": 1}], start_workflow=False
        )
    assert value(metrics.orders_created) == before + 1


def test_reservations_failed_counts_refusals_for_lack_of_stock(unique):
    sku, loc = stocked(unique, on_hand=1)
    before = value(metrics.reservations_failed)
    inventory.stock_reserve(sku=sku, location=loc, qty=1, holder="a")
    with pytest.raises(InsufficientStock):
        inventory.stock_reserve(sku=sku, location=loc, qty=1, holder="b")
    with pytest.raises(InsufficientStock):
        inventory.stock_reserve_many(requests=[inventory.ReservationRequest(sku, loc, 5, "c")])
    assert value(metrics.reservations_failed) == before + 2


def test_inbound_messages_quarantined_counts_each_quarantine_once(unique, django_capture_on_commit_callbacks):
    before = value(metrics.messages_quarantined)
    with django_capture_on_commit_callbacks(execute=True):
        message = inbound.inbound_message_store(body=f"not a supplier message {unique}".encode(), source="api")
        message = inbound.inbound_message_process(message_id=message.pk)
    assert message.status == "QUARANTINED"
    with django_capture_on_commit_callbacks(execute=True):
        inbound.inbound_message_process(message_id=message.pk)  # settled: processing again changes nothing
    assert value(metrics.messages_quarantined) == before + 1
