"""`inbound_move_many` leaves the same supplies, balances, ledger rows and events as one `inbound_move`
per move, and refuses before writing anything."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db import transaction

from inventory import selectors
from inventory import services as inventory
from inventory.exceptions import InboundSupplyNotFound, InboundSupplyTooSmall
from inventory.models import LedgerEntry
from scm.events.store import read_stream
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.django_db

DAY = date(2026, 12, 1)


def state(sku: str, place: str, tag: str) -> dict:
    """Supplies, balance, ledger and events of one SKU, with its codes replaced so two SKUs compare."""
    supplies = {s.reference: (s.quantity, s.expected_date.isoformat()) for s in selectors.inbound_for(sku=sku)}
    ledger = [
        (entry.quantity, entry.reason, entry.reference)
        for entry in LedgerEntry.objects.filter(item__sku=sku).order_by("id")
    ]
    events = [
        (e.type, {k: v for k, v in e.payload.items() if k != "effective_at"})
        for e in read_stream(f"stock-{sku}@{place}")
    ]
    inbound = selectors.balance_for(sku=sku, location=place).inbound
    text = json.dumps({"inbound": inbound, "supplies": supplies, "ledger": ledger, "events": events})
    return json.loads(text.replace(sku, "SKU").replace(place, "PLACE").replace(f"{tag}/", "REF/"))


def scenario(unique: str, tag: str):
    sku, place = ItemFactory(sku=f"{tag}-{unique}").sku, LocationFactory(code=f"{tag}W-{unique}").code
    inventory.inbound_add(sku=sku, location=place, qty=10, reference=f"{tag}/PO", expected_date=DAY)
    moves = [("PO", 4, "ASN1", 6), ("PO", 3, "ASN1", 3), ("", 0, "ASN2", 2)]
    return sku, place, moves


def test_many_moves_leave_what_one_move_each_leaves(unique):
    one_sku, one_place, moves = scenario(unique, "ONE")
    for source, moved, target, qty in moves:
        inventory.inbound_move(
            sku=one_sku,
            location=one_place,
            from_reference=f"ONE/{source}",
            from_qty=moved,
            to_reference=f"ONE/{target}",
            qty=qty,
            expected_date=DAY,
        )
    many_sku, many_place, moves = scenario(unique, "MANY")
    item, place = selectors.get_item(many_sku), selectors.get_location(many_place)
    recorded = inventory.inbound_move_many(
        moves=[
            inventory.InboundMove(item, place, f"MANY/{source}", moved, f"MANY/{target}", qty, DAY)
            for source, moved, target, qty in moves
        ]
    )
    assert [event.type for event in recorded] == ["InboundSupplyMoved"] * 3
    many = state(many_sku, many_place, "MANY")
    assert many == state(one_sku, one_place, "ONE")
    assert many["inbound"] == 10 - 7 + 11
    assert many["supplies"] == {
        "REF/PO": [3, "2026-12-01"],
        "REF/ASN1": [9, "2026-12-01"],
        "REF/ASN2": [2, "2026-12-01"],
    }
    assert len(many["ledger"]) == 6 and len(many["events"]) == 4


def test_a_source_too_small_or_missing_is_refused_before_anything_is_written(unique):
    sku, place, _ = scenario(unique, "BAD")
    item, location = selectors.get_item(sku), selectors.get_location(place)
    before = state(sku, place, "BAD")
    # Each call in its own savepoint: an error rolls the caller's transaction back (no savepoint of its own).
    with pytest.raises(InboundSupplyTooSmall), transaction.atomic():
        inventory.inbound_move_many(
            moves=[
                inventory.InboundMove(item, location, "BAD/PO", 6, "BAD/ASN1", 6, DAY),
                inventory.InboundMove(item, location, "BAD/PO", 5, "BAD/ASN2", 5, DAY),
            ]
        )
    with pytest.raises(InboundSupplyNotFound), transaction.atomic():
        inventory.inbound_move_many(moves=[inventory.InboundMove(item, location, "BAD/NONE", 1, "BAD/ASN1", 1, DAY)])
    assert state(sku, place, "BAD") == before
