"""The append-only tables refuse changes in the database itself, on PostgreSQL and on SQLite, below any
model code: a raw UPDATE or DELETE of an event, a ledger row or an inbound message's bytes fails.

On SQLite this also guards the migrations: SQLite rebuilds a table to alter one of its fields, which
drops the table's triggers (inventory 0004 once lost the ledger's that way; inventory 0006 restores them,
and suppliers 0007 drops indexes by name so the inbound message table is not rebuilt)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from inventory import services as inventory
from inventory.models import LedgerEntry
from scm.events.models import Event
from scm.events.store import append_one
from suppliers import inbound
from suppliers.models import InboundMessage

pytestmark = pytest.mark.django_db


def refused(sql: str, pk: int) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [pk])
    except DatabaseError:
        return True
    return False


def test_an_event_cannot_be_updated_or_deleted(unique):
    event = append_one(f"test-append-only-{unique}", "TestEventRecorded", {"n": 1})
    table = Event._meta.db_table
    assert refused(f"UPDATE {table} SET stream = stream || 'x' WHERE position = %s", event.position)
    assert refused(f"DELETE FROM {table} WHERE position = %s", event.position)
    assert Event.objects.get(position=event.position).stream == f"test-append-only-{unique}"


def test_a_ledger_row_cannot_be_updated_or_deleted(unique):
    inventory.item_upsert(sku=f"S-{unique}", name="x")
    inventory.location_upsert(code=f"L-{unique}", name="x")
    inventory.stock_receive(sku=f"S-{unique}", location=f"L-{unique}", qty=3, reference="test")
    row = LedgerEntry.objects.get(item__sku=f"S-{unique}")
    table = LedgerEntry._meta.db_table
    assert refused(f"UPDATE {table} SET quantity = 100 WHERE id = %s", row.pk)
    assert refused(f"DELETE FROM {table} WHERE id = %s", row.pk)
    assert LedgerEntry.objects.get(pk=row.pk).quantity == 3


def test_an_inbound_messages_bytes_cannot_be_changed(unique):
    message = inbound.inbound_message_store(body=f"raw {unique}".encode(), source="api")
    table = InboundMessage._meta.db_table
    assert refused(f"UPDATE {table} SET body = body || body WHERE id = %s", message.pk)
    assert refused(f"DELETE FROM {table} WHERE id = %s", message.pk)
    assert not refused(f"UPDATE {table} SET attempts = attempts + 1 WHERE id = %s", message.pk)
