"""Shipment state changes driven by us: departure (which consumes the reservations) and cancellation.

Each is one transaction that locks the shipment row first (`select_for_update`, so two workers can
never move one shipment), runs the django-fsm transition (which only sets fields), saves, and
appends the canonical event to the stream `shipment-<id>` last.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django_fsm import TransitionNotAllowed

from inventory import services as inventory
from inventory.exceptions import ReservationNotFound, ReservationTooSmall
from scm.conflicts import retry_on_conflict
from scm.errors import ValidationFailed
from scm.events.store import NewEvent, append
from scm.validation import could_be_id, past_or_now
from shipments.exceptions import DepartureRefused, InvalidShipmentTransition, ShipmentNotFound
from shipments.models import Shipment, ShipmentLine, ShipmentStatus
from shipments.services.payloads import shipment_payload


def locked_shipment(shipment_id: int) -> Shipment:
    if not could_be_id(shipment_id):
        raise ShipmentNotFound(shipment_id)
    shipment = Shipment.objects.select_for_update(of=("self",)).select_related("carrier").filter(pk=shipment_id).first()
    if shipment is None:
        raise ShipmentNotFound(shipment_id)
    return shipment


def lock_shipments(shipment_ids: list[int]) -> list[Shipment]:
    """Lock several shipments at once, in id order (callers that will move several, or that must
    hold them before locking stock: shipments come before balances in the global lock order)."""
    return list(Shipment.objects.select_for_update().filter(pk__in=shipment_ids).order_by("pk"))


def run_transition(shipment: Shipment, action: str, *args: Any) -> None:
    """Run one FSM transition; an illegal one is a clear domain error (nothing is saved)."""
    try:
        getattr(shipment, action)(*args)
    except TransitionNotAllowed:
        raise InvalidShipmentTransition(
            shipment_id=shipment.pk, status=shipment.status, action=action.replace("_", " ")
        ) from None


def depart_locked(shipment: Shipment, lines: list[ShipmentLine], at: datetime, **extra: Any) -> NewEvent:
    """Departure: consume every line's reservation (`reservation_consume_many` locks every balance, then every
    reservation, before its first append), then move to DEPARTED. Caller holds the row lock and
    appends the returned event after any others it has."""
    if shipment.status != ShipmentStatus.PLANNED:
        raise InvalidShipmentTransition(shipment_id=shipment.pk, status=shipment.status, action="depart")
    try:
        inventory.reservation_consume_many(
            consumptions=[
                inventory.HeldUnits(line.sku, shipment.from_location, line.holder, line.qty) for line in lines
            ],
            reference=shipment.stream,
            effective_at=at,
        )
    except (ReservationTooSmall, ReservationNotFound) as exc:
        line = next(line for line in lines if (line.sku, line.holder) == (exc.fields["sku"], exc.fields["holder"]))
        raise DepartureRefused(
            shipment_id=shipment.pk,
            sku=line.sku,
            location=shipment.from_location,
            holder=line.holder,
            requested=line.qty,
            held=exc.fields.get("held", 0),
        ) from exc
    run_transition(shipment, "depart", at)
    return NewEvent(
        "ShipmentDeparted", shipment_payload(shipment, lines, departed_at=at.isoformat(), **extra), occurred_at=at
    )


@retry_on_conflict
def shipment_depart(*, shipment_id: int, occurred_at: datetime | None = None, note: str = "") -> Shipment:
    """Hand the shipment to the carrier: each line's reservation is consumed (on hand and reserved
    fall, ledger rows and stock events written), the status moves to DEPARTED and ShipmentDeparted
    is appended — all in one transaction. A line shipping more than its reservation holds refuses
    the whole departure (DepartureRefused) and nothing is written."""
    with transaction.atomic():
        shipment = locked_shipment(shipment_id)
        at = past_or_now(occurred_at, "occurred_at")
        lines = list(shipment.lines.all())
        event = depart_locked(shipment, lines, at, source="api", note=note, implied=False)
        shipment.last_note = note or shipment.last_note
        shipment.save()
        append(shipment.stream, [event])
    return shipment


@retry_on_conflict
def shipment_cancel(*, shipment_id: int, reason: str, occurred_at: datetime | None = None) -> Shipment:
    """Cancel a shipment that has not departed. Reservations stay with the order (nothing was
    consumed); the order decides what to do with them when it sees ShipmentCancelled."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("A cancellation needs a reason.", reason=reason)
    with transaction.atomic():
        shipment = locked_shipment(shipment_id)
        at = past_or_now(occurred_at, "occurred_at")
        run_transition(shipment, "cancel", at, reason)
        shipment.save()
        lines = list(shipment.lines.all())
        append(
            shipment.stream,
            [NewEvent("ShipmentCancelled", shipment_payload(shipment, lines, reason=reason), occurred_at=at)],
        )
    return shipment
