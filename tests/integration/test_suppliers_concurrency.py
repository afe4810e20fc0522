"""Concurrency on real PostgreSQL connections: the same 856 arriving twice at the same moment is applied
once (the UNIQUE claim makes the second copy wait, then lose), and concurrent purchase order sends get
distinct, increasing control numbers from the supplier's row lock."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from inventory import selectors as inventory_selectors
from scm.api.services import integration_user_create
from scm.roles import INTEGRATION
from suppliers import inbound, services
from suppliers.models import InboundMessage, OutboundMessage, ShipNotice
from tests.concurrency import run_threads
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.postgres


@pytest.fixture
def trade(committed_db, unique):
    supplier = make_supplier(unique)
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"P-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 10, "2.50")])
    return {"supplier": supplier, "sku": sku, "part": f"P-{unique}", "order": order}


def asn_inbound(trade, number: str) -> list[tuple[str, int]]:
    return list(
        inventory_selectors.inbound_for(sku=trade["sku"])
        .filter(reference__startswith=f"ASN-{trade['supplier'].code}-{number}/")
        .values_list("reference", "quantity")
    )


def test_the_same_856_posted_twice_concurrently_is_applied_once(trade, unique):
    body = interchange(
        trade["supplier"].isa_id,
        71,
        [("856", asn_body(f"TWICE-{unique}", trade["order"].number, [("1", trade["part"], 6)]))],
    )
    token = integration_user_create(
        username=f"int-{unique}", role=INTEGRATION, supplier_code=trade["supplier"].code
    ).token

    def post(_index: int) -> dict:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        response = client.post("/api/v1/inbound-messages/", data=body, content_type="application/edi-x12")
        assert response.status_code == 202, response.content
        return response.json()

    answers = run_threads(2, post)
    assert sorted(answer["status"] for answer in answers) == ["APPLIED", "DUPLICATE"]
    applied = next(a for a in answers if a["status"] == "APPLIED")
    duplicate = InboundMessage.objects.get(pk=next(a["id"] for a in answers if a["status"] == "DUPLICATE"))
    assert duplicate.duplicate_of_id == applied["id"]
    assert bytes(duplicate.body) == body  # the copy is kept too
    assert ShipNotice.objects.filter(supplier=trade["supplier"], number=f"TWICE-{unique}").count() == 1
    assert asn_inbound(trade, f"TWICE-{unique}") == [(f"ASN-{trade['supplier'].code}-TWICE-{unique}/1", 6)]


def _wait_for_lock_waiter(deadline_seconds: float = 10) -> None:
    """Poll pg_stat_activity until another backend of this database waits on a lock: the supplier row,
    which processing locks before it claims the checksum within that supplier, or the claim itself."""
    deadline = time.monotonic() + deadline_seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND (query ILIKE %s OR query ILIKE %s)",
                ["%suppliers_messageclaim%", "%suppliers_supplier%"],
            )
            if cursor.fetchone()[0]:
                return
    raise AssertionError("the second copy never waited for the first one's claim")


def test_second_copy_waits_for_the_first_and_then_is_a_duplicate(trade, unique):
    """Deterministic overlap: the first copy is applied inside a transaction kept open while the second is
    processed on another connection; the second must block (on the supplier row it locks before claiming
    the checksum), and once the first commits,
    end DUPLICATE (and if the first had rolled back, it would have applied instead)."""
    body = interchange(
        trade["supplier"].isa_id,
        72,
        [("856", asn_body(f"HOLD-{unique}", trade["order"].number, [("1", trade["part"], 2)]))],
    )
    first = inbound.inbound_message_store(body=body, source="api")
    second = inbound.inbound_message_store(body=body, source="api")
    outcome: list[InboundMessage] = []
    waiter = threading.Thread(
        target=lambda: (outcome.append(inbound.inbound_message_process(message_id=second.pk)), connection.close())
    )
    with transaction.atomic():
        assert inbound.inbound_message_process(message_id=first.pk).status == "APPLIED"
        waiter.start()
        _wait_for_lock_waiter()
        assert waiter.is_alive()
    waiter.join(timeout=30)
    assert [m.status for m in outcome] == ["DUPLICATE"]
    assert outcome[0].duplicate_of_id == first.pk
    assert asn_inbound(trade, f"HOLD-{unique}") == [(f"ASN-{trade['supplier'].code}-HOLD-{unique}/1", 2)]


def test_same_interchange_number_with_other_bytes_concurrently_applies_once(trade, unique):
    segments = asn_body(f"SAME-{unique}", trade["order"].number, [("1", trade["part"], 3)])
    one = interchange(trade["supplier"].isa_id, 73, [("856", segments)], terminator="~")
    other = interchange(trade["supplier"].isa_id, 73, [("856", segments)], terminator="~\r\n")
    assert one != other
    stored = [inbound.inbound_message_store(body=body, source="api") for body in (one, other)]
    results = run_threads(2, lambda index: inbound.inbound_message_process(message_id=stored[index].pk))
    assert sorted(m.status for m in results) == ["APPLIED", "DUPLICATE"]
    assert asn_inbound(trade, f"SAME-{unique}") == [(f"ASN-{trade['supplier'].code}-SAME-{unique}/1", 3)]


def test_concurrent_sends_get_distinct_increasing_control_numbers(committed_db, unique):
    supplier = make_supplier(unique)
    sku = item(f"C-{unique}").sku
    orders = [make_order(f"{n}{unique}", supplier, [(sku, 1, "1")], send=False) for n in range(6)]
    sent = run_threads(len(orders), lambda index: services.purchase_order_send(po_id=orders[index].pk))
    assert sorted(int(message.isa_control) for message in sent) == [1, 2, 3, 4, 5, 6]
    by_commit = [int(m.isa_control) for m in OutboundMessage.objects.filter(supplier=supplier).order_by("pk")]
    assert by_commit == [1, 2, 3, 4, 5, 6]  # numbers are taken under the row lock, so they follow commit order
