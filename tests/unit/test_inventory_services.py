"""Inventory services: each movement, its ledger rows and event, and every refusal writing nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from inventory import selectors
from inventory import services as inventory
from inventory.exceptions import (
    BelowReserved,
    InboundSupplyTooSmall,
    InsufficientStock,
    InvalidQuantity,
    ReservationNotFound,
    ReservationTooSmall,
    SameLocationTransfer,
    UnknownLocation,
    UnknownReasonCode,
    UnknownSku,
)
from inventory.models import Balance, InboundSupply, LedgerEntry, Reservation
from scm.errors import ValidationFailed
from scm.events import store
from tests.factories import LocationFactory, stocked

pytestmark = pytest.mark.django_db


def balance(sku: str, location: str) -> tuple[int, int, int]:
    row = Balance.objects.get(item__sku=sku, location__code=location)
    return row.on_hand, row.reserved, row.inbound


def nothing_written(sku: str, location: str, ledger_rows: int, events: int) -> bool:
    return (
        LedgerEntry.objects.filter(item__sku=sku, location__code=location).count() == ledger_rows
        and len(store.read_stream(inventory.stock_stream(sku, location))) == events
    )


def test_receipt_puts_stock_on_hand_with_ledger_row_and_event(unique):
    sku, loc = stocked(unique)
    event = inventory.stock_receive(sku=sku, location=loc, qty=12, reference="GRN-1")

    assert balance(sku, loc) == (12, 0, 0)
    entry = LedgerEntry.objects.get(item__sku=sku, location__code=loc)
    assert (entry.bucket, entry.quantity, entry.reason, entry.reference, entry.event_id) == (
        "on_hand",
        12,
        "receipt",
        "GRN-1",
        event.position,
    )
    assert event.type == "StockReceived" and event.stream == f"stock-{sku}@{loc}"
    assert event.payload["movements"] == [
        {"sku": sku, "location": loc, "bucket": "on_hand", "qty": 12, "reason": "receipt"}
    ]


@pytest.mark.parametrize("qty", [0, -3, 2.5, "7", True, None])
def test_receipt_of_a_quantity_that_makes_no_sense_is_refused(unique, qty):
    sku, loc = stocked(unique)
    with pytest.raises(InvalidQuantity):
        inventory.stock_receive(sku=sku, location=loc, qty=qty)
    assert nothing_written(sku, loc, 0, 0)


def test_unknown_sku_and_location_are_domain_errors(unique):
    sku, loc = stocked(unique)
    with pytest.raises(UnknownSku) as raised:
        inventory.stock_receive(sku="NOPE-" + unique, location=loc, qty=1)
    assert raised.value.fields == {"sku": "NOPE-" + unique}
    with pytest.raises(UnknownLocation):
        inventory.stock_reserve(sku=sku, location="NOWHERE", qty=1, holder="h")


def test_receipt_against_inbound_supply_moves_inbound_to_on_hand(unique):
    sku, loc = stocked(unique)
    inventory.inbound_add(sku=sku, location=loc, qty=10, reference="PO-1/1", expected_date=date(2030, 1, 2))
    assert balance(sku, loc) == (0, 0, 10)

    inventory.stock_receive(sku=sku, location=loc, qty=4, inbound_reference="PO-1/1")
    assert balance(sku, loc) == (4, 0, 6)
    # Over-delivery: the supply closes, the surplus is simply on hand.
    inventory.stock_receive(sku=sku, location=loc, qty=9, inbound_reference="PO-1/1")
    assert balance(sku, loc) == (13, 0, 0)
    assert InboundSupply.objects.get(reference="PO-1/1", item__sku=sku).quantity == 0


def test_reserve_release_and_consume_keep_every_bucket_right(unique):
    sku, loc = stocked(unique, on_hand=10)
    inventory.stock_reserve(sku=sku, location=loc, qty=6, holder="order-1/1")
    assert balance(sku, loc) == (10, 6, 0)

    inventory.reservation_consume(sku=sku, location=loc, holder="order-1/1", qty=4, reference="SHP-1")
    assert balance(sku, loc) == (6, 2, 0)
    inventory.reservation_release(sku=sku, location=loc, holder="order-1/1")
    assert balance(sku, loc) == (6, 0, 0)
    reservation = Reservation.objects.get(holder="order-1/1", item__sku=sku)
    assert (
        reservation.quantity,
        reservation.reserved_total,
        reservation.consumed_total,
        reservation.released_total,
    ) == (
        0,
        6,
        4,
        2,
    )
    assert inventory.reservation_release(sku=sku, location=loc, holder="order-1/1") is None  # repeat is harmless


def test_reservation_beyond_available_reports_what_is_available_and_writes_nothing(unique):
    sku, loc = stocked(unique, on_hand=5)
    inventory.stock_reserve(sku=sku, location=loc, qty=3, holder="a")

    with pytest.raises(InsufficientStock) as raised:
        inventory.stock_reserve(sku=sku, location=loc, qty=3, holder="b")

    assert raised.value.fields["shortfalls"] == [{"sku": sku, "location": loc, "requested": 3, "available": 2}]
    assert raised.value.status == 409
    assert balance(sku, loc) == (5, 3, 0)
    assert not Reservation.objects.filter(holder="b").exists()
    assert nothing_written(sku, loc, 2, 2)


def test_reserve_many_is_all_or_nothing_and_lists_every_shortfall(unique):
    a, loc = stocked(unique, on_hand=5, sku="A")
    b, _ = stocked(unique, on_hand=1, sku="B", location="WH1-b")
    loc_b = f"WH1-b-{unique}"
    requests = [
        inventory.ReservationRequest(a, loc, 3, "order-9/1"),
        inventory.ReservationRequest(a, loc, 3, "order-9/2"),  # same balance: checked together (6 > 5)
        inventory.ReservationRequest(b, loc_b, 2, "order-9/3"),
    ]
    with pytest.raises(InsufficientStock) as raised:
        inventory.stock_reserve_many(requests=requests)

    assert {(s.sku, s.requested, s.available) for s in raised.value.shortfalls} == {(a, 6, 5), (b, 2, 1)}
    assert balance(a, loc) == (5, 0, 0) and balance(b, loc_b) == (1, 0, 0)


def test_release_many_gives_back_every_holders_units_at_once_and_skips_empty_reservations(unique):
    a, loc = stocked(unique, on_hand=10, sku="A")
    b, _ = stocked(unique, on_hand=10, sku="B", location="WH1-b")
    loc_b = f"WH1-b-{unique}"
    inventory.stock_reserve(sku=a, location=loc, qty=4, holder="order-3/1")
    inventory.stock_reserve(sku=b, location=loc_b, qty=3, holder="order-3/2")
    inventory.stock_reserve(sku=a, location=loc, qty=1, holder="order-3/3")
    inventory.reservation_release(sku=a, location=loc, holder="order-3/3")

    events = inventory.reservation_release_many(
        releases=[
            inventory.HeldUnits(b, loc_b, "order-3/2"),
            inventory.HeldUnits(a, loc, "order-3/1", qty=1),
            inventory.HeldUnits(a, loc, "order-3/3"),  # already empty: skipped, no event
        ],
        reason="order cancelled",
    )

    assert [(e.type, e.payload["holder"], e.payload["qty"]) for e in events] == [
        ("ReservationReleased", "order-3/2", 3),
        ("ReservationReleased", "order-3/1", 1),
    ]
    assert balance(a, loc) == (10, 3, 0) and balance(b, loc_b) == (10, 0, 0)


def test_release_many_asking_more_than_held_writes_nothing(unique):
    a, loc = stocked(unique, on_hand=10, sku="A")
    inventory.stock_reserve(sku=a, location=loc, qty=2, holder="order-4/1")
    inventory.stock_reserve(sku=a, location=loc, qty=2, holder="order-4/2")

    with pytest.raises(ReservationTooSmall):
        inventory.reservation_release_many(
            releases=[inventory.HeldUnits(a, loc, "order-4/1"), inventory.HeldUnits(a, loc, "order-4/2", qty=3)]
        )

    assert balance(a, loc) == (10, 4, 0)
    assert Reservation.objects.get(holder="order-4/1", item__sku=a).quantity == 2


def test_consume_many_ships_every_line_or_none(unique):
    a, loc = stocked(unique, on_hand=10, sku="A")
    b, _ = stocked(unique, on_hand=10, sku="B", location="WH1-b")
    loc_b = f"WH1-b-{unique}"
    inventory.stock_reserve(sku=a, location=loc, qty=4, holder="order-5/1")
    inventory.stock_reserve(sku=b, location=loc_b, qty=3, holder="order-5/2")

    with pytest.raises(ReservationNotFound):
        inventory.reservation_consume_many(
            consumptions=[inventory.HeldUnits(a, loc, "order-5/1", 4), inventory.HeldUnits(b, loc_b, "nobody", 1)],
            reference="SHP-5",
        )
    assert balance(a, loc) == (10, 4, 0)

    events = inventory.reservation_consume_many(
        consumptions=[inventory.HeldUnits(a, loc, "order-5/1", 4), inventory.HeldUnits(b, loc_b, "order-5/2", 2)],
        reference="SHP-5",
    )
    assert [e.type for e in events] == ["ReservationConsumed", "ReservationConsumed"]
    assert balance(a, loc) == (6, 0, 0) and balance(b, loc_b) == (8, 1, 0)


@pytest.mark.postgres
def test_reserving_has_one_implementation_the_database_function_is_gone():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'scm_reserve'")
        assert cursor.fetchone()[0] == 0


def test_consuming_more_than_the_reservation_holds_is_refused(unique):
    sku, loc = stocked(unique, on_hand=10)
    inventory.stock_reserve(sku=sku, location=loc, qty=2, holder="order-2/1")
    with pytest.raises(ReservationTooSmall):
        inventory.reservation_consume(sku=sku, location=loc, holder="order-2/1", qty=3, reference="SHP")
    assert balance(sku, loc) == (10, 2, 0)


def test_adjustment_needs_a_reason_code_and_cannot_go_below_reserved(unique):
    sku, loc = stocked(unique, on_hand=10)
    inventory.stock_reserve(sku=sku, location=loc, qty=7, holder="h")

    with pytest.raises(UnknownReasonCode):
        inventory.stock_adjust(sku=sku, location=loc, delta=-1, reason="gremlins")
    with pytest.raises(BelowReserved) as raised:
        inventory.stock_adjust(sku=sku, location=loc, delta=-4, reason="damaged")
    assert raised.value.fields["reserved"] == 7 and raised.value.fields["on_hand_after"] == 6
    with pytest.raises(InvalidQuantity):
        inventory.stock_adjust(sku=sku, location=loc, delta=0, reason="damaged")

    inventory.stock_adjust(sku=sku, location=loc, delta=-3, reason="damaged", note="forklift")
    assert balance(sku, loc) == (7, 7, 0)


def test_count_sets_on_hand_and_records_the_difference(unique):
    sku, loc = stocked(unique, on_hand=10)
    event = inventory.stock_count(sku=sku, location=loc, counted=8, reference="CC-1")
    assert balance(sku, loc) == (8, 0, 0)
    assert (event.payload["expected"], event.payload["difference"]) == (10, -2)

    confirmed = inventory.stock_count(sku=sku, location=loc, counted=8)
    assert confirmed.payload["difference"] == 0 and confirmed.payload["movements"] == []
    with pytest.raises(InvalidQuantity):
        inventory.stock_count(sku=sku, location=loc, counted=-1)


def test_transfer_goes_out_through_transit_and_in(unique):
    sku, source = stocked(unique, on_hand=10)
    destination = LocationFactory(code=f"WH2-{unique}").code

    inventory.transfer_dispatch(
        sku=sku,
        from_location=source,
        to_location=destination,
        qty=4,
        reference=f"TR-{unique}",
        expected_date=date(2030, 5, 1),
    )
    assert balance(sku, source) == (6, 0, 0)
    assert balance(sku, "IN-TRANSIT") == (4, 0, 0)
    assert balance(sku, destination) == (0, 0, 4)

    inventory.transfer_receive(sku=sku, to_location=destination, qty=4, reference=f"TR-{unique}")
    assert balance(sku, "IN-TRANSIT") == (0, 0, 0)
    assert balance(sku, destination) == (4, 0, 0)


def test_transfer_refuses_the_same_location_and_unavailable_stock(unique):
    sku, source = stocked(unique, on_hand=3)
    inventory.stock_reserve(sku=sku, location=source, qty=2, holder="h")
    destination = LocationFactory(code=f"WH2-{unique}").code

    with pytest.raises(SameLocationTransfer):
        inventory.stock_transfer(sku=sku, from_location=source, to_location=source, qty=1, reference="T1")
    with pytest.raises(InsufficientStock):
        inventory.stock_transfer(sku=sku, from_location=source, to_location=destination, qty=2, reference="T2")
    assert balance(sku, source) == (3, 2, 0)
    assert not Balance.objects.filter(item__sku=sku, location__code=destination, inbound__gt=0).exists()


def test_inbound_supply_add_reschedule_remove(unique):
    sku, loc = stocked(unique)
    inventory.inbound_add(
        sku=sku, location=loc, qty=5, reference="ASN-1/1", expected_date=date(2030, 1, 1), source="asn"
    )
    inventory.inbound_reschedule(sku=sku, location=loc, reference="ASN-1/1", expected_date=date(2030, 1, 9))
    inventory.inbound_remove(sku=sku, location=loc, reference="ASN-1/1", qty=2, reason="short shipped")

    supply = InboundSupply.objects.get(reference="ASN-1/1", item__sku=sku)
    assert (supply.quantity, supply.expected_date) == (3, date(2030, 1, 9))
    assert balance(sku, loc) == (0, 0, 3)


def test_backdated_receipt_changes_the_past_answers_without_rewriting_rows(unique):
    sku, loc = stocked(unique)
    now = timezone.now()
    inventory.stock_receive(sku=sku, location=loc, qty=10, effective_at=now - timedelta(days=10))
    inventory.stock_reserve(sku=sku, location=loc, qty=4, holder="h")
    before = list(LedgerEntry.objects.filter(item__sku=sku).order_by("id").values())
    recorded_before_backdating = timezone.now()

    inventory.stock_receive(sku=sku, location=loc, qty=5, reference="late GRN", effective_at=now - timedelta(days=5))

    assert list(LedgerEntry.objects.filter(item__sku=sku).order_by("id").values())[: len(before)] == before
    six_days_ago = selectors.balances_as_of(now - timedelta(days=6), sku=sku)[0]
    four_days_ago = selectors.balances_as_of(now - timedelta(days=4), sku=sku)[0]
    as_known_then = selectors.balances_as_of(now - timedelta(days=4), known_at=recorded_before_backdating, sku=sku)[0]
    assert (six_days_ago.on_hand, four_days_ago.on_hand, as_known_then.on_hand) == (10, 15, 10)
    assert balance(sku, loc) == (15, 4, 0)


def test_backdated_count_is_taken_against_the_ledger_at_its_effective_time(unique):
    sku, loc = stocked(unique)
    now = timezone.now()
    inventory.stock_receive(sku=sku, location=loc, qty=10, effective_at=now - timedelta(days=3))
    inventory.stock_receive(sku=sku, location=loc, qty=5, effective_at=now - timedelta(days=1))

    # Counted 8 two days ago, when the ledger said 10; the later receipt of 5 still stands.
    event = inventory.stock_count(sku=sku, location=loc, counted=8, effective_at=now - timedelta(days=2))
    assert event.payload["difference"] == -2
    assert balance(sku, loc) == (13, 0, 0)


def test_effective_time_in_the_future_is_refused(unique):
    sku, loc = stocked(unique)
    with pytest.raises(ValidationFailed):
        inventory.stock_receive(sku=sku, location=loc, qty=1, effective_at=timezone.now() + timedelta(days=1))


def test_check_balances_is_clean_after_services_and_finds_drift(unique):
    sku, loc = stocked(unique, on_hand=10)
    inventory.stock_reserve(sku=sku, location=loc, qty=3, holder="h")
    assert [d for d in selectors.check_balances() if d.sku == sku] == []

    Balance.objects.filter(item__sku=sku).update(reserved=2)  # a ghost change behind the services' back
    drift = [d for d in selectors.check_balances() if d.sku == sku]
    assert {(d.field, d.projection, d.expected, d.source) for d in drift} == {
        ("reserved", 2, 3, "ledger"),
        ("reserved", 2, 3, "open reservations"),
    }


def test_ledger_rows_cannot_be_changed(unique):
    from scm.events.exceptions import AppendOnlyViolation

    sku, loc = stocked(unique, on_hand=1)
    row = LedgerEntry.objects.get(item__sku=sku)
    row.quantity = 100
    with pytest.raises(AppendOnlyViolation):
        row.save()
    with pytest.raises(AppendOnlyViolation):
        LedgerEntry.objects.filter(item__sku=sku).delete()


def test_moving_inbound_supply_onto_a_ship_notice(unique):
    sku, loc = stocked(unique)
    inventory.inbound_add(sku=sku, location=loc, qty=10, reference="PO-5/1", expected_date=date(2030, 2, 1))

    event = inventory.inbound_move(
        sku=sku,
        location=loc,
        from_reference="PO-5/1",
        from_qty=6,
        to_reference="ASN-9/1",
        qty=7,
        expected_date=date(2030, 1, 20),
    )

    supplies = {s.reference: (s.quantity, s.expected_date) for s in InboundSupply.objects.filter(item__sku=sku)}
    assert supplies == {"PO-5/1": (4, date(2030, 2, 1)), "ASN-9/1": (7, date(2030, 1, 20))}
    assert balance(sku, loc) == (0, 0, 11)
    assert [(m["qty"], m["reason"]) for m in event.payload["movements"]] == [
        (-6, "inbound_removed"),
        (7, "inbound_added"),
    ]
    with pytest.raises(InboundSupplyTooSmall):
        inventory.inbound_move(
            sku=sku,
            location=loc,
            from_reference="PO-5/1",
            from_qty=5,
            to_reference="ASN-9/2",
            qty=5,
            expected_date=date(2030, 1, 20),
        )
    assert balance(sku, loc) == (0, 0, 11)
