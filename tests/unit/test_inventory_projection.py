"""rebuild_balances and check_balances: the projection can always be recomputed and proven."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inventory import services as inventory
from inventory.models import Balance
from tests.factories import LocationFactory, stocked

pytestmark = pytest.mark.django_db


def make_history(unique: str) -> tuple[str, str, str]:
    sku, loc = stocked(unique, on_hand=30)
    other = LocationFactory(code=f"WH2-{unique}").code
    inventory.stock_reserve(sku=sku, location=loc, qty=8, holder="o1")
    inventory.reservation_consume(sku=sku, location=loc, holder="o1", qty=5, reference="s1")
    inventory.transfer_dispatch(sku=sku, from_location=loc, to_location=other, qty=6, reference=f"T-{unique}")
    inventory.inbound_add(sku=sku, location=loc, qty=12, reference="PO-7/1", expected_date="2030-01-01")
    inventory.stock_adjust(sku=sku, location=loc, delta=-2, reason="damaged")
    return sku, loc, other


def snapshot(sku: str) -> dict:
    return {b.location.code: (b.on_hand, b.reserved, b.inbound) for b in Balance.objects.filter(item__sku=sku)}


def test_check_balances_passes_on_a_consistent_projection(unique):
    make_history(unique)
    out = StringIO()
    call_command("check_balances", stdout=out, stderr=StringIO())
    assert "consistent" in out.getvalue()


def test_check_balances_exits_non_zero_listing_each_difference(unique):
    sku, loc, _ = make_history(unique)
    Balance.objects.filter(item__sku=sku, location__code=loc).update(on_hand=99)
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("check_balances", stdout=out, stderr=StringIO())
    assert exited.value.code == 1
    assert f"{sku}@{loc} on_hand: projection 99, ledger says 17" in out.getvalue()


@pytest.mark.parametrize("source", ["ledger", "events"])
def test_rebuild_restores_the_projection_from_its_source(unique, source):
    sku, loc, other = make_history(unique)
    expected = snapshot(sku)
    assert expected[loc] == (17, 3, 12) and expected[other] == (0, 0, 6)
    Balance.objects.filter(item__sku=sku).update(on_hand=1000, reserved=0, inbound=0)

    call_command("rebuild_balances", source=source, stdout=StringIO(), stderr=StringIO())

    assert snapshot(sku) == expected
    call_command("check_balances", stdout=StringIO(), stderr=StringIO())


def test_check_against_the_replayed_event_log(unique):
    sku, loc, _ = make_history(unique)
    out = StringIO()
    call_command("check_balances", events=True, stdout=out, stderr=StringIO())
    assert "and the event log" in out.getvalue()

    Balance.objects.filter(item__sku=sku, location__code=loc).update(on_hand=99, reserved=0)
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("check_balances", events=True, stdout=out, stderr=StringIO())
    assert f"{sku}@{loc} on_hand: projection 99, event log says 17" in out.getvalue()
