"""Tracking updates: store each exactly as received, then apply it to its shipment.

See docs/SHIPMENTS.md "Tracking rules".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from scm.conflicts import retry_on_conflict
from scm.errors import DomainError, ValidationFailed
from scm.events.store import NewEvent, append
from scm.validation import could_be_id
from shipments.adapters.tracking import CarrierUpdate, MalformedUpdate, parse_update, storable
from shipments.exceptions import ShipmentNotFound
from shipments.models import (
    DelayCause,
    Shipment,
    ShipmentDelay,
    ShipmentLine,
    ShipmentStatus,
    TrackingStatus,
    TrackingUpdate,
    UpdateOutcome,
)
from shipments.services.payloads import delay_event, iso, status_event
from shipments.services.transitions import depart_locked, locked_shipment, run_transition

log = structlog.get_logger(__name__)


UNMATCHED_STREAM = "tracking-unmatched"


def tracking_update_ingest(
    *, raw: Any, source: str, carrier: str = "", shipment_id: int | None = None, raise_rejected: bool = True
) -> TrackingUpdate:
    """Store a tracking update exactly as received, then apply it.

    Storing comes first and commits on its own, so nothing is lost whatever happens next:
    malformed updates are kept with outcome `malformed` (and MalformedTrackingUpdate is raised
    for the caller's 400), unknown tracking numbers with `unknown_tracking`. `carrier` is the
    carrier the update came through (a feed), used when the update names none; `shipment_id`
    addresses a shipment directly (the per-shipment API), so no tracking number is needed.
    Domain errors while applying (e.g. an implied departure exceeding a reservation) leave the
    update `rejected` with the reason; they are raised unless `raise_rejected` is False (carrier
    webhooks and feeds, which are answered with the stored outcome instead).
    """
    if shipment_id is not None and (
        not could_be_id(shipment_id) or not Shipment.objects.filter(pk=shipment_id).exists()
    ):
        raise ShipmentNotFound(shipment_id)
    try:
        parsed: CarrierUpdate | None = parse_update(raw, require_tracking_number=shipment_id is None)
        error = None
    except MalformedUpdate as exc:
        parsed, error = None, exc
    update = _store_update(raw, source=source, carrier=carrier, shipment_id=shipment_id, parsed=parsed, error=error)
    if error is not None:
        raise MalformedTrackingUpdate(error, update_id=update.pk)
    try:
        return tracking_update_process(update_id=update.pk)
    except DomainError:
        if raise_rejected:
            raise
        update.refresh_from_db()
        return update


class MalformedTrackingUpdate(ValidationFailed):
    code = "malformed_tracking_update"

    def __init__(self, error: MalformedUpdate, *, update_id: int) -> None:
        super().__init__(f"Malformed tracking update: {error}", **{error.field: error.reason, "update_id": update_id})


def _store_update(
    raw: Any,
    *,
    source: str,
    carrier: str,
    shipment_id: int | None,
    parsed: CarrierUpdate | None,
    error: MalformedUpdate | None,
) -> TrackingUpdate:
    stored_raw = storable(raw if isinstance(raw, dict) else {"body": raw})
    if parsed is not None:
        fields: dict[str, Any] = {
            "tracking_number": parsed.tracking_number,
            "status": parsed.status,
            "occurred_at": parsed.occurred_at,
            "note": parsed.note,
            "carrier_code": parsed.carrier or carrier,
            "estimated_arrival": parsed.estimated_arrival,
        }
    else:
        raw_dict = raw if isinstance(raw, dict) else {}
        fields = {
            "tracking_number": _text(raw_dict.get("tracking_number"), 64),
            "status": _text(raw_dict.get("status"), 32),
            "carrier_code": _text(raw_dict.get("carrier"), 32) or carrier,
            "note": _text(raw_dict.get("note"), 2000),
        }
    with transaction.atomic():
        if shipment_id is not None and not fields["tracking_number"]:
            fields["tracking_number"] = (
                Shipment.objects.filter(pk=shipment_id).values_list("tracking_number", flat=True).first() or ""
            )
        return TrackingUpdate.objects.create(
            source=source,
            raw=stored_raw,
            shipment_id=shipment_id,
            outcome=UpdateOutcome.MALFORMED if error else UpdateOutcome.PENDING,
            outcome_detail=str(error) if error else "",
            processed_at=timezone.now() if error else None,
            **fields,
        )


def _text(value: Any, limit: int) -> str:
    return storable(value)[:limit] if isinstance(value, str) else ""


@retry_on_conflict
def tracking_update_process(*, update_id: int) -> TrackingUpdate:
    """Apply one stored update (pending, or unknown_tracking being retried). Idempotent: an update
    already settled is returned unchanged. See docs/SHIPMENTS.md "Tracking rules"."""
    try:
        with transaction.atomic():
            return _process(update_id)
    except DomainError as exc:
        TrackingUpdate.objects.filter(pk=update_id, outcome=UpdateOutcome.PENDING).update(
            outcome=UpdateOutcome.REJECTED, outcome_detail=exc.message, processed_at=timezone.now()
        )
        log.warning("tracking.rejected", update_id=update_id, error=exc.message)
        raise


def _process(update_id: int) -> TrackingUpdate:
    update = TrackingUpdate.objects.select_for_update().get(pk=update_id)
    if update.outcome not in (UpdateOutcome.PENDING, UpdateOutcome.UNKNOWN_TRACKING):
        return update
    shipment_id = update.shipment_id or _match(update)
    if shipment_id is None:
        return update
    shipment = locked_shipment(shipment_id)
    update.shipment = shipment
    outcome, detail, events = _decide(shipment, update)
    positions = append(shipment.stream, events) if events else []
    update.outcome, update.outcome_detail = outcome, detail
    update.processed_at = timezone.now()
    update.event_position = positions[-1].position if positions else None
    update.save(update_fields=["shipment", "outcome", "outcome_detail", "processed_at", "event_position"])
    log.info("tracking.processed", update_id=update.pk, shipment_id=shipment.pk, outcome=str(outcome))
    return update


def _match(update: TrackingUpdate) -> int | None:
    """The shipment this update's tracking number belongs to; records unknown_tracking when none."""
    candidates = Shipment.objects.filter(tracking_number=update.tracking_number)
    if update.carrier_code:
        candidates = candidates.filter(carrier__code=update.carrier_code)
    found = list(candidates.values_list("pk", flat=True)[:2])
    if len(found) == 1:
        return found[0]
    if found:
        detail = f"tracking number {update.tracking_number!r} is used by several carriers; send `carrier`"
    else:
        carrier = f" of carrier {update.carrier_code!r}" if update.carrier_code else ""
        detail = f"no shipment has tracking number {update.tracking_number!r}{carrier}"
    first_time = update.outcome == UpdateOutcome.PENDING
    update.outcome, update.outcome_detail, update.processed_at = UpdateOutcome.UNKNOWN_TRACKING, detail, timezone.now()
    if first_time:
        event = append(
            UNMATCHED_STREAM,
            [
                NewEvent(
                    "TrackingUpdateUnmatched",
                    {
                        "update_id": update.pk,
                        "source": update.source,
                        "carrier": update.carrier_code,
                        "tracking_number": update.tracking_number,
                        "status": update.status,
                        "occurred_at": iso(update.occurred_at),
                        "note": update.note,
                        "reason": detail,
                    },
                )
            ],
        )[0]
        update.event_position = event.position
        log.warning("tracking.unknown_number", update_id=update.pk, tracking_number=update.tracking_number)
    update.save(update_fields=["outcome", "outcome_detail", "processed_at", "event_position"])
    return None


Decision = tuple[str, str, list[NewEvent]]
"""What an update does to its shipment: (outcome, detail, events to append)."""


def _decide(shipment: Shipment, update: TrackingUpdate) -> Decision:
    """What one update does to a locked shipment (see docs/SHIPMENTS.md "Tracking rules")."""
    refused = _refusal(shipment, update)
    if refused is not None:
        return refused
    status, at = update.status, update.occurred_at
    lines = list(shipment.lines.all())
    extra = {"source": update.source, "tracking_update_id": update.pk, "note": update.note}
    if status == TrackingStatus.DELAYED:
        return _record_delay(shipment, update, lines, extra)
    events: list[NewEvent] = []
    if shipment.status == ShipmentStatus.PLANNED:
        if status == TrackingStatus.EXCEPTION:
            return (
                UpdateOutcome.REJECTED,
                "shipment has not departed; an exception before departure is only recorded",
                [],
            )
        events.append(depart_locked(shipment, lines, at, **extra, implied=status != TrackingStatus.DEPARTED))
        if status == TrackingStatus.DEPARTED:
            _absorb(shipment, update)
            shipment.save()
            return UpdateOutcome.APPLIED, "departed", events
    elif status == TrackingStatus.DEPARTED:
        return UpdateOutcome.STALE, f"shipment already departed at {iso(shipment.departed_at)}", []
    outcome, detail, moved = _move(shipment, update, lines, extra)
    if outcome != UpdateOutcome.APPLIED:
        return outcome, detail, []
    _absorb(shipment, update)
    shipment.save()
    return outcome, detail, events + moved


def _refusal(shipment: Shipment, update: TrackingUpdate) -> Decision | None:
    """A repeat of an update already taken, or an update for a shipment that is over."""
    duplicate = (
        TrackingUpdate.objects.filter(
            shipment=shipment,
            status=update.status,
            occurred_at=update.occurred_at,
            outcome__in=[UpdateOutcome.APPLIED, UpdateOutcome.STALE],
        )
        .exclude(pk=update.pk)
        .order_by("pk")
        .first()
    )
    if duplicate is not None:
        return UpdateOutcome.DUPLICATE, f"same as update {duplicate.pk} ({duplicate.outcome})", []
    if shipment.status == ShipmentStatus.CANCELLED:
        return UpdateOutcome.REJECTED, f"shipment was cancelled at {iso(shipment.cancelled_at)}; not applied", []
    if shipment.status == ShipmentStatus.DELIVERED:
        return (
            UpdateOutcome.STALE,
            f"shipment was delivered at {iso(shipment.delivered_at)}; a later {update.status} does not move it back",
            [],
        )
    return None


def _record_delay(shipment: Shipment, update: TrackingUpdate, lines: list[ShipmentLine], extra: dict) -> Decision:
    at = update.occurred_at
    _absorb(shipment, update)
    event = delay_event(
        shipment, lines, DelayCause.CARRIER_REPORTED, update.note or "carrier reported a delay", at, **extra
    )
    ShipmentDelay.objects.get_or_create(
        shipment=shipment, cause=DelayCause.CARRIER_REPORTED, defaults={"detail": update.note, "detected_at": at}
    )
    shipment.save()
    return UpdateOutcome.APPLIED, "delay recorded", [event]


def _move(shipment: Shipment, update: TrackingUpdate, lines: list[ShipmentLine], extra: dict) -> Decision:
    """A departed shipment delivered, moved between IN_TRANSIT and EXCEPTION, or scanned again."""
    status, at, current = update.status, update.occurred_at, shipment.status
    if status == TrackingStatus.DELIVERED:
        run_transition(shipment, "deliver", at)
        on_time = _on_time(shipment, at)
        event = status_event(
            "ShipmentDelivered", shipment, lines, at, delivered_at=at.isoformat(), on_time=on_time, **extra
        )
        return UpdateOutcome.APPLIED, "delivered", [event]
    if status == current:
        # A repeated IN_TRANSIT or EXCEPTION scan: news only if it is newer than what we know.
        if shipment.last_update_at and at <= shipment.last_update_at:
            return UpdateOutcome.STALE, f"older than the latest update ({iso(shipment.last_update_at)})", []
        shipment.status_changed_at = at
        event = status_event(_EVENT_FOR[status], shipment, lines, at, repeated=True, **extra)
        return UpdateOutcome.APPLIED, "progress recorded", [event]
    # IN_TRANSIT <-> EXCEPTION, or out of DEPARTED: an older update must not undo a newer one.
    if current != ShipmentStatus.DEPARTED and at < shipment.status_changed_at:
        return (
            UpdateOutcome.STALE,
            f"older than the {current} at {iso(shipment.status_changed_at)}; recorded, not applied",
            [],
        )
    run_transition(shipment, "mark_in_transit" if status == TrackingStatus.IN_TRANSIT else "mark_exception", at)
    event = status_event(_EVENT_FOR[status], shipment, lines, at, repeated=False, **extra)
    return UpdateOutcome.APPLIED, f"moved to {status}", [event]


_EVENT_FOR = {TrackingStatus.IN_TRANSIT: "ShipmentInTransit", TrackingStatus.EXCEPTION: "ShipmentException"}


def _absorb(shipment: Shipment, update: TrackingUpdate) -> None:
    """Facts every applied update brings: a newer ETA, the latest note, the latest update time."""
    if update.estimated_arrival:
        shipment.estimated_arrival = update.estimated_arrival
    if update.note:
        shipment.last_note = update.note
    if shipment.last_update_at is None or update.occurred_at > shipment.last_update_at:
        shipment.last_update_at = update.occurred_at


def _on_time(shipment: Shipment, at: datetime) -> bool | None:
    if shipment.promised_date is None:
        return None
    return timezone.localdate(at) <= shipment.promised_date


def tracking_updates_reprocess(*, older_than: timedelta = timedelta(minutes=1), limit: int = 500) -> int:
    """Retry updates left pending (a process died between storing and applying) and unknown ones
    (the tracking number may exist now). Returns how many were applied this time."""
    cutoff = timezone.now() - older_than
    ids = list(
        TrackingUpdate.objects.filter(
            outcome__in=[UpdateOutcome.PENDING, UpdateOutcome.UNKNOWN_TRACKING], received_at__lte=cutoff
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    applied = 0
    for update_id in ids:
        try:
            update = tracking_update_process(update_id=update_id)
        except DomainError:
            continue
        applied += update.outcome == UpdateOutcome.APPLIED
    return applied
