"""Stock never oversells and never deadlocks under real concurrent PostgreSQL connections."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from django.db.utils import IntegrityError, OperationalError

from inventory import selectors
from inventory import services as inventory
from inventory.exceptions import InsufficientStock
from inventory.models import Balance, LedgerEntry, Reservation
from scm.errors import DomainError
from tests.concurrency import run_threads
from tests.factories import ItemFactory, LocationFactory

pytestmark = pytest.mark.postgres


def test_32_clients_reserving_the_last_20_units_get_exactly_20(committed_db, unique):
    sku = ItemFactory(sku=f"HOT-{unique}").sku
    loc = LocationFactory(code=f"HOT-{unique}").code
    inventory.stock_receive(sku=sku, location=loc, qty=20)

    def reserve_one(index: int) -> str:
        try:
            inventory.stock_reserve(sku=sku, location=loc, qty=1, holder=f"client-{unique}-{index}")
        except InsufficientStock as exc:
            assert exc.shortfalls[0].available == 0
            return "refused"
        return "reserved"

    outcomes = Counter(run_threads(32, reserve_one))

    assert outcomes == {"reserved": 20, "refused": 12}
    row = Balance.objects.get(item__sku=sku, location__code=loc)
    assert (row.on_hand, row.reserved, row.available) == (20, 20, 0)
    assert Reservation.objects.filter(item__sku=sku, quantity=1).count() == 20
    ledger_reserved = sum(
        LedgerEntry.objects.filter(item__sku=sku, bucket="reserved").values_list("quantity", flat=True)
    )
    assert ledger_reserved == 20
    assert [d for d in selectors.check_balances() if d.sku == sku] == []


def _ship(rng, sku, loc, holder, **_):
    held = Reservation.objects.filter(holder=holder, item__sku=sku, location__code=loc).first()
    if held and held.quantity:
        qty = rng.randint(1, held.quantity)
        inventory.reservation_consume(sku=sku, location=loc, holder=holder, qty=qty, reference="ship")


def _transfer(rng, sku, loc, locations, reference, **_):
    other = rng.choice([x for x in locations if x != loc])
    inventory.stock_transfer(sku=sku, from_location=loc, to_location=other, qty=rng.randint(1, 4), reference=reference)


#: One random stock operation each, as `test_2000_random_operations...` mixes them.
MIXED_OPERATIONS = {
    "receive": lambda rng, sku, loc, **_: inventory.stock_receive(sku=sku, location=loc, qty=rng.randint(1, 5)),
    "reserve": lambda rng, sku, loc, holder, **_: inventory.stock_reserve(
        sku=sku, location=loc, qty=rng.randint(1, 6), holder=holder
    ),
    "release": lambda rng, sku, loc, holder, **_: inventory.reservation_release(sku=sku, location=loc, holder=holder),
    "ship": _ship,
    "adjust": lambda rng, sku, loc, **_: inventory.stock_adjust(
        sku=sku, location=loc, delta=rng.choice([-3, -1, 2, 4]), reason="correction"
    ),
    "transfer": _transfer,
    "count": lambda rng, sku, loc, **_: inventory.stock_count(sku=sku, location=loc, counted=rng.randint(20, 60)),
}


def test_2000_random_operations_from_8_threads_leave_balances_consistent(committed_db, unique):
    skus = [ItemFactory(sku=f"MIX{n}-{unique}").sku for n in range(5)]
    locations = [LocationFactory(code=f"MIX{n}-{unique}").code for n in range(3)]
    for sku in skus:
        for loc in locations:
            inventory.stock_receive(sku=sku, location=loc, qty=50)
    integrity_errors: list[str] = []
    refused: Counter = Counter()
    done: Counter = Counter()

    def operate(index: int) -> None:
        rng = random.Random(index)
        for step in range(250):
            sku, loc = rng.choice(skus), rng.choice(locations)
            holder = f"mix-{unique}-{index}-{rng.randrange(6)}"
            op = rng.choice(["receive", "reserve", "reserve", "release", "ship", "adjust", "transfer", "count"])
            try:
                MIXED_OPERATIONS[op](
                    rng, sku=sku, loc=loc, holder=holder, locations=locations, reference=f"tr-{unique}-{index}-{step}"
                )
                done[op] += 1
            except IntegrityError as exc:
                integrity_errors.append(f"{op}: {exc}")
            except DomainError as exc:
                refused[type(exc).__name__] += 1

    run_threads(8, operate)

    assert integrity_errors == []
    assert sum(done.values()) + sum(refused.values()) == 2000
    assert done["reserve"] > 0 and done["transfer"] > 0 and done["ship"] > 0
    drift = [d for d in selectors.check_balances() if d.sku in skus]
    assert drift == []


def test_opposite_lock_orders_never_deadlock(committed_db, unique):
    a = ItemFactory(sku=f"DLA-{unique}").sku
    b = ItemFactory(sku=f"DLB-{unique}").sku
    loc = LocationFactory(code=f"DL-{unique}").code
    other = LocationFactory(code=f"DL2-{unique}").code
    for sku in (a, b):
        inventory.stock_receive(sku=sku, location=loc, qty=10_000)
    deadlocks: list[str] = []

    def work(index: int) -> None:
        first, second = (a, b) if index % 2 == 0 else (b, a)
        for round_ in range(100):
            holder = f"dl-{unique}-{index}-{round_}"
            try:
                inventory.stock_reserve_many(
                    requests=[
                        inventory.ReservationRequest(first, loc, 1, holder),
                        inventory.ReservationRequest(second, loc, 1, holder),
                    ]
                )
                inventory.stock_transfer(
                    sku=first, from_location=loc, to_location=other, qty=1, reference=f"{holder}-t"
                )
            except OperationalError as exc:
                deadlocks.append(str(exc))

    run_threads(2, work)

    assert deadlocks == []
    assert Reservation.objects.filter(holder__startswith=f"dl-{unique}-").count() == 400
