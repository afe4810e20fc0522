"""The lock-order checker (tests/lockorder.py) sees a row lock taken after an event append."""

from __future__ import annotations

import pytest
from django.db import transaction

from inventory import services as inventory
from inventory.models import Balance, Reservation
from scm.events.store import NewEvent, append
from tests import lockorder
from tests.factories import ItemFactory, LocationFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.allow_lock_after_append]


def record(stream: str) -> None:
    append(stream, [NewEvent(type="TestEventRecorded", payload={"n": 1})])


@pytest.fixture
def two_balances(unique):
    item = ItemFactory(sku=f"LO-{unique}")
    first, second = LocationFactory(code=f"LO1-{unique}"), LocationFactory(code=f"LO2-{unique}")
    inventory.stock_receive(sku=item.sku, location=first.code, qty=5)
    inventory.stock_receive(sku=item.sku, location=second.code, qty=5)
    lockorder.reset()
    return item, first, second


def test_a_balance_locked_after_an_append_is_reported(two_balances, unique):
    item, first, second = two_balances
    with transaction.atomic():
        list(Balance.objects.select_for_update().filter(item=item, location=first))
        record(f"test-{unique}")
        list(Balance.objects.select_for_update().filter(item=item, location=second))

    [violation] = lockorder.violations()
    assert violation.lock == "SELECT ... FOR UPDATE on inventory_balance"
    assert violation.rows == f"inventory_balance#{Balance.objects.get(item=item, location=second).pk}"
    assert violation.lock_site.startswith("tests/unit/test_lockorder.py:")
    assert violation.append_site.startswith("tests/unit/test_lockorder.py:")


def test_an_update_of_a_row_not_locked_before_the_append_is_reported(two_balances, unique):
    item, first, second = two_balances
    with transaction.atomic():
        record(f"test-{unique}")
        Balance.objects.filter(item=item, location=second).update(inbound=1)

    assert [v.lock for v in lockorder.violations()] == ["UPDATE on inventory_balance"]


def test_the_per_allocation_release_loop_is_reported(two_balances, unique):
    item, first, second = two_balances
    for location in (first, second):
        inventory.stock_reserve_many(
            requests=[inventory.ReservationRequest(item.sku, location.code, 2, f"h-{unique}")], reference="r"
        )
    lockorder.reset()
    with transaction.atomic():
        for location in (first, second):
            inventory.reservation_release(sku=item.sku, location=location.code, holder=f"h-{unique}")

    locks = {v.lock for v in lockorder.violations()}
    assert locks == {"SELECT ... FOR UPDATE on inventory_balance", "SELECT ... FOR UPDATE on inventory_reservation"}


def test_locks_taken_up_front_then_writes_and_relocks_after_the_append_are_fine(two_balances, unique):
    item, first, second = two_balances
    with transaction.atomic():
        inventory.lock_balances([(item, first), (item, second)])
        record(f"test-{unique}")
        inventory.lock_balances([(item, second)])
        Balance.objects.filter(item=item, location=second).update(inbound=1)
        Reservation.objects.create(item=item, location=first, holder=f"new-{unique}", quantity=0)
        Reservation.objects.filter(holder=f"new-{unique}").update(quantity=0)

    assert lockorder.violations() == []


def test_separate_transactions_in_one_test_are_judged_separately(two_balances, unique):
    item, first, second = two_balances
    with transaction.atomic():
        record(f"test-{unique}")
    with transaction.atomic():
        list(Balance.objects.select_for_update().filter(item=item, location=second))

    assert lockorder.violations() == []


def test_skip_locked_never_waits_and_is_not_reported(two_balances, unique):
    item, first, second = two_balances
    with transaction.atomic():
        record(f"test-{unique}")
        list(Balance.objects.select_for_update(skip_locked=True).filter(item=item))

    assert lockorder.violations() == []


@pytest.mark.parametrize(
    ("sql", "params", "probe_sql", "probe_params"),
    [
        (
            'UPDATE "t_x" SET "a" = %s, "b" = ("t_x"."b" + %s) WHERE "t_x"."id" = %s',
            [1, 2, 3],
            'WHERE "t_x"."id" = %s',
            [3],
        ),
        (
            'INSERT INTO t_x (k1, a, k2) VALUES (%s, 0, %s) ON CONFLICT (k1, k2) DO UPDATE SET a = 1',
            ["one", "two"],
            '"k1" = %s AND "k2" = %s',
            ["one", "two"],
        ),
    ],
)
def test_the_probe_selects_the_rows_a_write_targets(monkeypatch, sql, params, probe_sql, probe_params):
    monkeypatch.setitem(lockorder._pk_columns, "t_x", "id")
    probe = lockorder.probe_for(sql, params)
    assert probe.sql.endswith(probe_sql)
    assert probe.params == probe_params


def test_a_kind_of_row_locked_after_a_later_kind_is_reported_before_any_append(two_balances, unique):
    item, first, second = two_balances
    inventory.stock_reserve(sku=item.sku, location=first.code, qty=1, holder=f"h-{unique}")
    lockorder.reset()
    with transaction.atomic():
        list(Reservation.objects.select_for_update().filter(holder=f"h-{unique}"))
        list(Balance.objects.select_for_update().filter(item=item, location=first))

    [violation] = lockorder.violations()
    assert violation.lock == (
        "SELECT ... FOR UPDATE on inventory_balance: inventory_balance after inventory_reservation, "
        "against the lock order"
    )
    assert violation.append_site == ""


def test_statements_sent_together_are_each_checked(two_balances, unique):
    """`raw_sql.execute_together` sends several statements in one round trip: each one is looked at."""
    from scm import raw_sql

    item, first, second = two_balances
    other = Balance.objects.get(item=item, location=second).pk
    with transaction.atomic():
        list(Balance.objects.select_for_update().filter(item=item, location=first))
        record(f"test-{unique}")
        raw_sql.execute_together(
            [
                ("SELECT 1", None),
                ('UPDATE "inventory_balance" SET "reserved" = "reserved" WHERE "inventory_balance"."id" = %s', [other]),
            ]
        )

    [violation] = lockorder.violations()
    assert violation.lock == "UPDATE on inventory_balance"
    assert violation.rows == f"inventory_balance#{other}"
    assert violation.lock_site.startswith("tests/unit/test_lockorder.py:")
