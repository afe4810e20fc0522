"""Shipments services: planning (built-in planner), departure consuming reservations, cancellation,
tracking rules and late detection — each asserted on exact stock figures, rows and event payloads."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from inventory import services as inventory
from inventory.exceptions import UnknownSku
from inventory.models import Balance, LedgerEntry, Reservation
from scm.errors import ValidationFailed
from scm.events import store
from shipments import selectors, services
from shipments.adapters.tms import TmsPlan, TmsPlanRequest
from shipments.exceptions import (
    CarrierInUse,
    DepartureRefused,
    InvalidShipmentPlan,
    InvalidShipmentTransition,
    NoDefaultCarrier,
    PlanKeyReused,
    TmsRejected,
)
from shipments.models import Carrier, PlanningAttempt, Shipment, ShipmentDelay, TrackingUpdate
from shipments.services import MalformedTrackingUpdate, ShipmentLineSpec
from tests.factories import CarrierFactory, stocked

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _builtin_planner(settings):
    settings.TMS_BASE_URL = ""
    settings.SHIPMENT_STALE_AFTER_HOURS = 48
    settings.SHIPMENT_AT_RISK_DAYS = 1


@pytest.fixture
def carrier(unique):
    return CarrierFactory(code=f"CAR-{unique}", name="Test Carrier", is_default=True)


def balance(sku: str, location: str) -> tuple[int, int]:
    row = Balance.objects.get(item__sku=sku, location__code=location)
    return row.on_hand, row.reserved


def stream_types(shipment: Shipment) -> list[str]:
    return [event.type for event in store.read_stream(shipment.stream)]


def plan(order_ref: str, location: str, lines: list[tuple[str, int, str]], key: str = "k1", **kwargs) -> Shipment:
    return services.shipment_plan(
        order_ref=order_ref,
        plan_key=key,
        from_location=location,
        lines=[ShipmentLineSpec(sku=sku, qty=qty, holder=holder) for sku, qty, holder in lines],
        **kwargs,
    )


def update(tracking: str, status: str, at, note: str = "", **extra) -> TrackingUpdate:
    raw = {"tracking_number": tracking, "status": status, "occurred_at": at.isoformat(), "note": note, **extra}
    return services.tracking_update_ingest(raw=raw, source="webhook")


@pytest.fixture
def order_stock(unique, carrier):
    """15 on hand, 10 reserved for an order-like holder."""
    sku, loc = stocked(unique, on_hand=15)
    holder = f"order-9{unique[:4]}/line-1"
    inventory.stock_reserve(sku=sku, location=loc, qty=10, holder=holder)
    return sku, loc, holder


# --- Carriers -----------------------------------------------------------------------------------


def test_one_default_carrier_at_a_time(unique, carrier):
    other = services.carrier_upsert(code=f"OTH-{unique}", name="Other", is_default=True)
    carrier.refresh_from_db()
    assert (carrier.is_default, other.is_default) == (False, True)
    assert Carrier.objects.filter(is_default=True).count() == 1
    assert store.read_stream(f"carrier-{other.code}")[-1].payload["is_default"] is True


def test_carrier_validation_refuses_bad_template_and_levels(unique):
    with pytest.raises(ValidationFailed, match="tracking_number"):
        services.carrier_upsert(code=f"X-{unique}", name="X", tracking_url_template="https://t.example/")
    with pytest.raises(ValidationFailed, match="twice"):
        services.carrier_upsert(code=f"X-{unique}", name="X", service_levels=["a", "a"])
    assert not Carrier.objects.filter(code=f"X-{unique}").exists()


def test_carrier_with_shipments_cannot_be_deleted(order_stock, carrier, unique):
    sku, loc, holder = order_stock
    plan(f"order-{unique}", loc, [(sku, 1, holder)])
    with pytest.raises(CarrierInUse):
        services.carrier_delete(code=carrier.code)
    assert Carrier.objects.filter(code=carrier.code).exists()


# --- Planning -----------------------------------------------------------------------------------


def test_builtin_planner_plans_with_the_default_carrier(order_stock, carrier, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 6, holder)], promised_date=date(2031, 1, 10))

    assert shipment.status == "PLANNED"
    assert shipment.carrier == carrier and shipment.service_level == "standard"
    assert shipment.tracking_number.startswith(f"{carrier.code}-") and len(shipment.tracking_number) > len(carrier.code)
    assert shipment.estimated_arrival == timezone.localdate() + timedelta(days=3)
    assert balance(sku, loc) == (15, 10), "planning moves no stock"
    [event] = store.read_stream(shipment.stream)
    assert event.type == "ShipmentPlanned"
    assert event.payload == {
        "shipment_id": shipment.pk,
        "order_ref": f"order-{unique}",
        "transfer_ref": "",
        "from_location": loc,
        "carrier": carrier.code,
        "tracking_number": shipment.tracking_number,
        "status": "PLANNED",
        "lines": [{"sku": sku, "location": loc, "qty": 6, "holder": holder}],
        "plan_key": "k1",
        "service_level": "standard",
        "promised_date": "2031-01-10",
        "estimated_arrival": shipment.estimated_arrival.isoformat(),
        "planner": "builtin",
    }
    attempt = PlanningAttempt.objects.get(plan_key="k1", order_ref=f"order-{unique}")
    assert (attempt.outcome, attempt.planner, attempt.shipment_id) == ("planned", "builtin", shipment.pk)


def test_planning_is_idempotent_per_plan_key(order_stock, unique):
    sku, loc, holder = order_stock
    first = plan(f"order-{unique}", loc, [(sku, 6, holder)])
    again = plan(f"order-{unique}", loc, [(sku, 6, holder)])

    assert again.pk == first.pk
    assert Shipment.objects.filter(order_ref=f"order-{unique}").count() == 1
    assert stream_types(first) == ["ShipmentPlanned"]
    assert PlanningAttempt.objects.filter(order_ref=f"order-{unique}").count() == 1

    with pytest.raises(PlanKeyReused):
        plan(f"order-{unique}", loc, [(sku, 5, holder)])
    assert Shipment.objects.filter(order_ref=f"order-{unique}").count() == 1


class FixedPlanner:
    """A planner answering with a fixed tracking number (the shape a TMS would give)."""

    name = "tms"

    def __init__(self, carrier: str, tracking: str) -> None:
        self.carrier, self.tracking, self.calls = carrier, tracking, 0

    def plan(self, request: TmsPlanRequest) -> TmsPlan:
        self.calls += 1
        return TmsPlan(carrier=self.carrier, tracking_number=self.tracking, estimated_arrival=None, service_level="")


def test_a_carrier_unknown_to_us_named_by_the_planner_is_registered(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 1, holder)], planner=FixedPlanner(f"NEW-{unique}", f"T-{unique}"))
    assert shipment.carrier.code == f"NEW-{unique}" and shipment.carrier.is_default is False
    assert shipment.tracking_number == f"T-{unique}"


@pytest.mark.parametrize(
    "lines, error",
    [
        ([], InvalidShipmentPlan),
        ([("SKU", 0, "h")], InvalidShipmentPlan),
        ([("SKU", 2, "")], InvalidShipmentPlan),
        ([("SKU", 1, "h"), ("SKU", 2, "h")], InvalidShipmentPlan),
        ([("NOPE", 1, "h")], UnknownSku),
    ],
)
def test_bad_plans_are_refused_and_write_nothing(order_stock, unique, lines, error):
    sku, loc, _ = order_stock
    lines = [(sku if s == "SKU" else f"NOPE-{unique}", q, h) for s, q, h in lines]
    with pytest.raises(error):
        plan(f"order-{unique}", loc, lines)
    assert not Shipment.objects.filter(order_ref=f"order-{unique}").exists()
    assert not PlanningAttempt.objects.filter(order_ref=f"order-{unique}").exists()


def test_a_shipment_is_for_an_order_or_a_transfer_not_both(order_stock, unique):
    sku, loc, holder = order_stock
    with pytest.raises(InvalidShipmentPlan, match="exactly one"):
        plan(f"order-{unique}", loc, [(sku, 1, holder)], transfer_ref=f"TR-{unique}")
    transfer = services.shipment_plan(
        transfer_ref=f"TR-{unique}", plan_key="t", from_location=loc, lines=[ShipmentLineSpec(sku, 1, holder)]
    )
    assert (transfer.order_ref, transfer.transfer_ref) == ("", f"TR-{unique}")


def test_no_default_carrier_is_a_non_retryable_planning_error_recorded_for_ops(order_stock, unique):
    sku, loc, holder = order_stock
    Carrier.objects.update(is_default=False)
    with pytest.raises(NoDefaultCarrier) as caught:
        plan(f"order-{unique}", loc, [(sku, 1, holder)])
    assert isinstance(caught.value, TmsRejected) and caught.value.retryable is False
    attempt = PlanningAttempt.objects.get(order_ref=f"order-{unique}")
    assert (attempt.outcome, attempt.error_code) == ("rejected", "no_default_carrier")
    assert not Shipment.objects.filter(order_ref=f"order-{unique}").exists()


# --- Departure, delivery, cancellation ----------------------------------------------------------


def test_ten_units_shipped_as_six_then_four(order_stock, unique):
    """The inventory side of a partial fulfilment: on hand and reserved right at every step."""
    sku, loc, holder = order_stock
    ref = f"order-{unique}"
    assert balance(sku, loc) == (15, 10)

    first = plan(ref, loc, [(sku, 6, holder)], key="s1")
    assert balance(sku, loc) == (15, 10)
    services.shipment_depart(shipment_id=first.pk)
    assert balance(sku, loc) == (9, 4)
    consumed = [e for e in store.read_stream(f"stock-{sku}@{loc}") if e.type == "ReservationConsumed"]
    assert [(e.payload["qty"], e.payload["holder"], e.payload["reference"]) for e in consumed] == [
        (6, holder, first.stream)
    ]
    ledger = LedgerEntry.objects.filter(item__sku=sku, location__code=loc, reason="shipment").order_by("bucket")
    assert [(row.bucket, row.quantity, row.reference) for row in ledger] == [
        ("on_hand", -6, first.stream),
        ("reserved", -6, first.stream),
    ]

    update(first.tracking_number, "DELIVERED", timezone.now())
    assert balance(sku, loc) == (9, 4), "delivery moves no stock"

    second = plan(ref, loc, [(sku, 4, holder)], key="s2")
    services.shipment_depart(shipment_id=second.pk)
    assert balance(sku, loc) == (5, 0)
    update(second.tracking_number, "IN_TRANSIT", timezone.now() - timedelta(minutes=1))
    update(second.tracking_number, "DELIVERED", timezone.now())
    assert balance(sku, loc) == (5, 0)

    reservation = Reservation.objects.get(holder=holder)
    assert (reservation.quantity, reservation.consumed_total) == (0, 10)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("DELIVERED", "DELIVERED")
    assert stream_types(first) == ["ShipmentPlanned", "ShipmentDeparted", "ShipmentDelivered"]
    assert stream_types(second) == ["ShipmentPlanned", "ShipmentDeparted", "ShipmentInTransit", "ShipmentDelivered"]
    for shipment, qty in ((first, 6), (second, 4)):
        for event in store.read_stream(shipment.stream):
            assert event.payload["order_ref"] == ref
            assert event.payload["lines"] == [{"sku": sku, "location": loc, "qty": qty, "holder": holder}]
    departed = store.read_stream(second.stream)[1]
    assert departed.payload["implied"] is False and departed.payload["status"] == "DEPARTED"


def test_departure_of_more_than_is_reserved_is_refused_and_writes_nothing(unique, carrier):
    sku, loc = stocked(unique, on_hand=20)
    other_sku, _ = stocked(unique, on_hand=20, sku="B", location="WH1-b")
    inventory.stock_receive(sku=other_sku, location=loc, qty=20)
    inventory.stock_reserve(sku=sku, location=loc, qty=5, holder="order-1/line-1")
    inventory.stock_reserve(sku=other_sku, location=loc, qty=3, holder="order-1/line-2")
    shipment = plan(f"order-{unique}", loc, [(other_sku, 3, "order-1/line-2"), (sku, 6, "order-1/line-1")])
    ledger_rows = LedgerEntry.objects.count()

    with pytest.raises(DepartureRefused) as caught:
        services.shipment_depart(shipment_id=shipment.pk)

    assert caught.value.fields == {
        "shipment_id": shipment.pk,
        "sku": sku,
        "location": loc,
        "holder": "order-1/line-1",
        "requested": 6,
        "held": 5,
    }
    assert caught.value.status == 409 and caught.value.code == "departure_exceeds_reservation"
    shipment.refresh_from_db()
    assert shipment.status == "PLANNED" and shipment.departed_at is None
    assert balance(sku, loc) == (20, 5) and balance(other_sku, loc) == (20, 3), "the first line was not consumed either"
    assert LedgerEntry.objects.count() == ledger_rows
    assert stream_types(shipment) == ["ShipmentPlanned"]


def test_departing_twice_is_a_clear_error(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 2, holder)])
    services.shipment_depart(shipment_id=shipment.pk)
    with pytest.raises(InvalidShipmentTransition, match="DEPARTED; it cannot depart"):
        services.shipment_depart(shipment_id=shipment.pk)
    assert balance(sku, loc) == (13, 8)


def test_cancel_before_departure_keeps_the_reservations(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 6, holder)])
    services.shipment_cancel(shipment_id=shipment.pk, reason="customer changed address")

    shipment.refresh_from_db()
    assert (shipment.status, shipment.cancel_reason) == ("CANCELLED", "customer changed address")
    assert balance(sku, loc) == (15, 10)
    cancelled = store.read_stream(shipment.stream)[-1]
    assert cancelled.type == "ShipmentCancelled"
    assert cancelled.payload["reason"] == "customer changed address"
    assert cancelled.payload["lines"] == [{"sku": sku, "location": loc, "qty": 6, "holder": holder}]


def test_cancel_after_departure_is_refused(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 6, holder)])
    services.shipment_depart(shipment_id=shipment.pk)
    with pytest.raises(InvalidShipmentTransition):
        services.shipment_cancel(shipment_id=shipment.pk, reason="too late")
    shipment.refresh_from_db()
    assert shipment.status == "DEPARTED"
    assert stream_types(shipment) == ["ShipmentPlanned", "ShipmentDeparted"]


def test_status_cannot_be_assigned_directly(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 1, holder)])
    with pytest.raises(AttributeError):
        shipment.status = "DELIVERED"


# --- Tracking rules -----------------------------------------------------------------------------


def test_updates_delivered_twice_and_out_of_order_give_the_right_state_and_full_history(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 6, holder)])
    number = shipment.tracking_number
    t0 = timezone.now() - timedelta(hours=10)
    departed, hub, exception, delivered = (
        t0,
        t0 + timedelta(hours=2),
        t0 + timedelta(hours=4),
        t0 + timedelta(hours=8),
    )

    received = [
        update(number, "DEPARTED", departed),
        update(number, "EXCEPTION", exception, note="address unclear"),
        update(number, "IN_TRANSIT", hub, note="hub scan"),  # older than the exception
        update(number, "DELIVERED", delivered),
        update(number, "DELIVERED", delivered),  # delivered twice
        update(number, "IN_TRANSIT", delivered + timedelta(minutes=5)),  # late "in transit" after delivery
        update(number, "EXCEPTION", exception, note="address unclear"),  # resent
    ]

    assert [u.outcome for u in received] == [
        "applied",
        "applied",
        "stale",
        "applied",
        "duplicate",
        "stale",
        "duplicate",
    ]
    shipment.refresh_from_db()
    assert shipment.status == "DELIVERED"
    assert (shipment.departed_at, shipment.delivered_at) == (departed, delivered)
    assert balance(sku, loc) == (9, 4)
    assert stream_types(shipment) == ["ShipmentPlanned", "ShipmentDeparted", "ShipmentException", "ShipmentDelivered"]
    history = list(selectors.tracking_updates(shipment_id=shipment.pk))
    assert [(u.status, u.outcome) for u in history] == [(u.status, u.outcome) for u in received]
    assert "does not move it back" in history[5].outcome_detail


def test_exception_recovers_to_in_transit_with_a_newer_scan(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 2, holder)])
    t0 = timezone.now() - timedelta(hours=5)
    update(shipment.tracking_number, "IN_TRANSIT", t0)
    update(shipment.tracking_number, "EXCEPTION", t0 + timedelta(hours=1), note="damaged label")
    recovered = update(shipment.tracking_number, "IN_TRANSIT", t0 + timedelta(hours=2), note="relabelled")
    again = update(shipment.tracking_number, "IN_TRANSIT", t0 + timedelta(hours=3), note="next hub")

    shipment.refresh_from_db()
    assert (recovered.outcome, again.outcome) == ("applied", "applied")
    assert (shipment.status, shipment.last_note, shipment.last_update_at) == (
        "IN_TRANSIT",
        "next hub",
        t0 + timedelta(hours=3),
    )
    events = store.read_stream(shipment.stream)
    assert [e.type for e in events] == [
        "ShipmentPlanned",
        "ShipmentDeparted",
        "ShipmentInTransit",
        "ShipmentException",
        "ShipmentInTransit",
        "ShipmentInTransit",
    ]
    assert events[1].payload["implied"] is True, "in transit on a planned shipment departs it first"
    assert [e.payload.get("repeated") for e in events[2:]] == [False, False, False, True]


def test_delivery_reported_for_a_planned_shipment_departs_it_first(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 6, holder)])
    result = update(shipment.tracking_number, "DELIVERED", timezone.now())
    assert result.outcome == "applied"
    assert balance(sku, loc) == (9, 4)
    assert stream_types(shipment) == ["ShipmentPlanned", "ShipmentDeparted", "ShipmentDelivered"]


def test_an_update_that_would_over_ship_is_stored_as_rejected(unique, carrier):
    sku, loc = stocked(unique, on_hand=10)
    inventory.stock_reserve(sku=sku, location=loc, qty=2, holder="order-5/line-1")
    shipment = plan(f"order-{unique}", loc, [(sku, 3, "order-5/line-1")])

    with pytest.raises(DepartureRefused):
        update(shipment.tracking_number, "DEPARTED", timezone.now())
    raw = {"tracking_number": shipment.tracking_number, "status": "DEPARTED", "occurred_at": timezone.now().isoformat()}
    quiet = services.tracking_update_ingest(raw=raw, source="webhook", raise_rejected=False)

    rows = list(TrackingUpdate.objects.filter(tracking_number=shipment.tracking_number).order_by("pk"))
    assert [row.outcome for row in rows] == ["rejected", "rejected"]
    assert quiet.outcome == "rejected" and "holds 2 reserved" in quiet.outcome_detail
    shipment.refresh_from_db()
    assert shipment.status == "PLANNED" and balance(sku, loc) == (10, 2)


def test_unknown_tracking_number_is_stored_reported_and_applied_once_the_shipment_exists(order_stock, unique):
    sku, loc, holder = order_stock
    number = f"LATE-{unique}"
    early = update(number, "IN_TRANSIT", timezone.now() - timedelta(minutes=30))
    assert (early.outcome, early.shipment_id) == ("unknown_tracking", None)
    assert f"no shipment has tracking number '{number}'" in early.outcome_detail
    reported = store.read_stream(services.UNMATCHED_STREAM)[-1]
    assert reported.type == "TrackingUpdateUnmatched" and reported.payload["update_id"] == early.pk
    assert early in selectors.unmatched_tracking_updates()

    shipment = plan(f"order-{unique}", loc, [(sku, 2, holder)], planner=FixedPlanner(f"C2-{unique}", number))
    assert services.tracking_updates_reprocess(older_than=timedelta(0)) >= 1
    early.refresh_from_db()
    shipment.refresh_from_db()
    assert (early.outcome, early.shipment_id, shipment.status) == ("applied", shipment.pk, "IN_TRANSIT")


def test_malformed_updates_are_stored_and_refused_with_the_reason(unique):
    cases = [
        ({"status": "IN_TRANSIT", "occurred_at": "2026-01-01T10:00:00Z"}, "tracking_number", "is required"),
        ({"tracking_number": "X", "status": "LOST", "occurred_at": "2026-01-01T10:00:00Z"}, "status", "not one of"),
        ({"tracking_number": "X", "status": "IN_TRANSIT", "occurred_at": "2026-01-01 10:00"}, "occurred_at", "no time"),
        ({"tracking_number": "X", "status": "IN_TRANSIT", "occurred_at": "yesterday"}, "occurred_at", "not an ISO"),
        (
            {"tracking_number": "X", "status": "IN_TRANSIT", "occurred_at": "2999-01-01T00:00:00Z"},
            "occurred_at",
            "future",
        ),
    ]
    for raw, field, reason in cases:
        raw = {**raw, "note": unique}
        with pytest.raises(MalformedTrackingUpdate) as caught:
            services.tracking_update_ingest(raw=raw, source="webhook")
        assert reason in caught.value.fields[field]
        stored = TrackingUpdate.objects.get(pk=caught.value.fields["update_id"])
        assert (stored.outcome, stored.raw) == ("malformed", raw)
    assert TrackingUpdate.objects.filter(note=unique, outcome="malformed").count() == len(cases)


def test_status_spelling_is_forgiven(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 1, holder)])
    result = update(shipment.tracking_number, "in transit", timezone.now())
    assert (result.status, result.outcome) == ("IN_TRANSIT", "applied")


def test_carrier_delay_report_records_eta_and_shows_as_late(order_stock, unique):
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 1, holder)], promised_date=timezone.localdate() + timedelta(days=10))
    services.shipment_depart(shipment_id=shipment.pk)
    eta = timezone.localdate() + timedelta(days=12)
    result = update(
        shipment.tracking_number, "DELAYED", timezone.now(), note="storm", estimated_arrival=eta.isoformat()
    )

    shipment.refresh_from_db()
    assert (result.outcome, shipment.status, shipment.estimated_arrival) == ("applied", "DEPARTED", eta)
    delayed = store.read_stream(shipment.stream)[-1]
    assert (delayed.type, delayed.payload["cause"], delayed.payload["estimated_arrival"]) == (
        "ShipmentDelayed",
        "carrier_reported",
        eta.isoformat(),
    )
    [row] = [row for row in selectors.late_shipments() if row.shipment_id == shipment.pk]
    assert (row.risk, row.order_ref) == ("late", f"order-{unique}")
    assert row.reasons == ["eta_after_promise", "carrier_reported"]


# --- Late detection -----------------------------------------------------------------------------


def test_no_update_for_longer_than_the_threshold_is_late_with_its_order_and_announced_once(order_stock, unique):
    sku, loc, holder = order_stock
    quiet = plan(f"order-{unique}", loc, [(sku, 2, holder)], key="quiet")
    fresh = plan(f"order-{unique}", loc, [(sku, 2, holder)], key="fresh")
    services.shipment_depart(shipment_id=quiet.pk, occurred_at=timezone.now() - timedelta(hours=50))
    services.shipment_depart(shipment_id=fresh.pk, occurred_at=timezone.now() - timedelta(hours=50))
    update(fresh.tracking_number, "IN_TRANSIT", timezone.now() - timedelta(hours=1))

    marked = services.shipments_detect_late()
    assert [(d.shipment_id, d.cause) for d in marked if d.shipment_id in (quiet.pk, fresh.pk)] == [
        (quiet.pk, "no_update")
    ]
    again = services.shipments_detect_late()
    assert [d for d in again if d.shipment_id in (quiet.pk, fresh.pk)] == []
    delayed = [e for e in store.read_stream(quiet.stream) if e.type == "ShipmentDelayed"]
    assert len(delayed) == 1
    assert (delayed[0].payload["cause"], delayed[0].payload["source"], delayed[0].payload["order_ref"]) == (
        "no_update",
        "detector",
        f"order-{unique}",
    )
    assert "no tracking update for 50 h" in delayed[0].payload["detail"]
    assert not ShipmentDelay.objects.filter(shipment=fresh).exists()

    late = {row.shipment_id: row for row in selectors.late_shipments()}
    assert late[quiet.pk].risk == "late" and late[quiet.pk].order_ref == f"order-{unique}"
    assert late[quiet.pk].reasons == ["no_update"] and late[quiet.pk].first_flagged_at is not None
    assert fresh.pk not in late


def test_eta_after_the_promised_date_is_detected(order_stock, unique):
    sku, loc, holder = order_stock
    today = timezone.localdate()
    shipment = plan(f"order-{unique}", loc, [(sku, 2, holder)], promised_date=today + timedelta(days=1))
    assert shipment.estimated_arrival == today + timedelta(days=3)

    marked = [d for d in services.shipments_detect_late() if d.shipment_id == shipment.pk]
    assert [d.cause for d in marked] == ["eta_after_promise"]
    row = next(r for r in selectors.late_shipments() if r.shipment_id == shipment.pk)
    assert (row.risk, row.reasons) == ("late", ["eta_after_promise"])


def test_planned_shipment_due_soon_is_at_risk_not_late(order_stock, unique, carrier):
    carrier.transit_days = 0
    carrier.save()
    sku, loc, holder = order_stock
    shipment = plan(f"order-{unique}", loc, [(sku, 2, holder)], promised_date=timezone.localdate() + timedelta(days=1))
    row = next(r for r in selectors.late_shipments() if r.shipment_id == shipment.pk)
    assert (row.risk, row.reasons) == ("at_risk", ["not_departed"])
    assert all(r.shipment_id != shipment.pk for r in selectors.late_shipments(include_at_risk=False))


def test_delivered_and_cancelled_shipments_are_never_late(order_stock, unique):
    sku, loc, holder = order_stock
    past = timezone.localdate() - timedelta(days=5)
    delivered = plan(f"order-{unique}", loc, [(sku, 1, holder)], key="d", promised_date=past)
    cancelled = plan(f"order-{unique}", loc, [(sku, 1, holder)], key="c", promised_date=past)
    update(delivered.tracking_number, "DELIVERED", timezone.now())
    services.shipment_cancel(shipment_id=cancelled.pk, reason="duplicate")
    ids = {r.shipment_id for r in selectors.late_shipments()}
    assert delivered.pk not in ids and cancelled.pk not in ids
    assert all(d.shipment_id not in (delivered.pk, cancelled.pk) for d in services.shipments_detect_late())
    delivered_event = store.read_stream(delivered.stream)[-1]
    assert delivered_event.payload["on_time"] is False


def test_text_postgresql_cannot_store_is_refused_and_the_raw_update_kept_escaped(unique):
    raw = {"tracking_number": f"N-{unique}", "status": "IN_TRANSIT", "occurred_at": "2026-01-01T10:00:00Z"}
    with pytest.raises(MalformedTrackingUpdate) as caught:
        services.tracking_update_ingest(raw={**raw, "note": "bad\x00note", "k\x00": "\ud800"}, source="webhook")
    assert caught.value.fields["note"] == "contains a NUL character or an unpaired surrogate"
    stored = TrackingUpdate.objects.get(pk=caught.value.fields["update_id"])
    assert stored.raw == {**raw, "note": "bad\\u0000note", "k\\u0000": "\\ud800"}
    assert (stored.outcome, stored.note) == ("malformed", "bad\\u0000note")


def test_any_offset_is_accepted_and_kept_as_the_same_instant_in_utc(unique):
    raw = {"tracking_number": f"O-{unique}", "status": "IN_TRANSIT", "occurred_at": "2026-06-15T13:11:27+21:39"}
    stored = services.tracking_update_ingest(raw=raw, source="webhook")
    stored.refresh_from_db()
    assert stored.outcome == "unknown_tracking"
    assert stored.occurred_at.isoformat() == "2026-06-14T15:32:27+00:00"
    with pytest.raises(MalformedTrackingUpdate, match="implausibly old"):
        services.tracking_update_ingest(raw={**raw, "occurred_at": "1426-06-15T13:11:27Z"}, source="webhook")
