"""Every write to shipments goes through here.

Each state change is one transaction that locks the shipment row first (`select_for_update`, so
two workers can never move one shipment), runs the django-fsm transition (which only sets
fields), saves, and appends the canonical event to the stream `shipment-<id>` last. Departure
also consumes the order's reservations through `inventory.services` in the same transaction.

Planning calls the TMS (HTTP) before any transaction is opened, then records the shipment.

Every shipment event payload carries `shipment_id`, `order_ref`, `transfer_ref`, `from_location`,
`carrier`, `tracking_number`, `status` and `lines: [{sku, location, qty, holder}]`, so other
apps (orders) can react by subscription without reading shipment tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from inventory import services as inventory
from inventory.exceptions import ReservationNotFound, ReservationTooSmall
from scm.errors import DomainError, ValidationFailed
from scm.events.store import NO_STREAM, NewEvent, append
from shipments.adapters.carrier_urls import carrier_urls_check
from shipments.adapters.tms import Planner, TmsLine, TmsPlan, TmsPlanRequest, planner_from_settings
from shipments.adapters.tracking import CarrierUpdate, MalformedUpdate, fetch_feed, parse_update, storable
from shipments.exceptions import (
    CarrierExists,
    CarrierFeedError,
    CarrierInUse,
    CarrierNotFound,
    DepartureRefused,
    InvalidShipmentPlan,
    InvalidShipmentTransition,
    PlanKeyReused,
    ShipmentNotFound,
    TmsBadResponse,
    TmsError,
    UnknownServiceLevel,
)
from shipments.models import (
    IN_FLIGHT_STATUSES,
    OPEN_STATUSES,
    Carrier,
    DelayCause,
    PlanningAttempt,
    PlanningOutcome,
    Shipment,
    ShipmentDelay,
    ShipmentLine,
    ShipmentStatus,
    TrackingStatus,
    TrackingUpdate,
    UpdateOutcome,
    UpdateSource,
)
from shipments.selectors import could_be_code, could_be_id

log = structlog.get_logger(__name__)

FUTURE_TOLERANCE = timedelta(minutes=5)
UNMATCHED_STREAM = "tracking-unmatched"


def shipment_stream(shipment_id: int) -> str:
    return f"shipment-{shipment_id}"


# --- Carriers -----------------------------------------------------------------------------------

CARRIER_FIELDS = (
    "name",
    "tracking_url_template",
    "service_levels",
    "transit_days",
    "is_default",
    "active",
    "tracking_feed_url",
)


@transaction.atomic
def carrier_upsert(*, code: str, **fields: Any) -> Carrier:
    """Create or change a carrier. Marking one as default unmarks the previous default (one default
    at most, also enforced by a unique index). Appends `CarrierDefined` with the resulting values."""
    unknown = set(fields) - set(CARRIER_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown carrier field(s): {', '.join(sorted(unknown))}.", fields=sorted(unknown))
    code = (code or "").strip()
    carrier = Carrier.objects.select_for_update().filter(code=code).first() or Carrier(code=code, name=code)
    for name, value in fields.items():
        setattr(carrier, name, value)
    _validate_carrier(carrier)
    if carrier.is_default:
        Carrier.objects.select_for_update().filter(is_default=True).exclude(code=code).update(is_default=False)
    carrier.save()
    append(
        f"carrier-{carrier.code}",
        [NewEvent("CarrierDefined", {name: getattr(carrier, name) for name in ("code", *CARRIER_FIELDS)})],
    )
    return carrier


def carrier_create(*, code: str, **fields: Any) -> Carrier:
    """Create a carrier; an existing code is a conflict (use carrier_update)."""
    if Carrier.objects.filter(code=(code or "").strip()).exists():
        raise CarrierExists(code)
    return carrier_upsert(code=code, **fields)


def carrier_update(*, code: str, **fields: Any) -> Carrier:
    if not could_be_code(code) or not Carrier.objects.filter(code=code).exists():
        raise CarrierNotFound(code)
    return carrier_upsert(code=code, **fields)


CARRIER_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def _validate_carrier(carrier: Carrier) -> None:
    if not CARRIER_CODE.match(carrier.code):
        raise ValidationFailed(
            "A carrier code is 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            code=carrier.code,
        )
    levels = carrier.service_levels
    if not isinstance(levels, list) or not all(isinstance(level, str) and level.strip() for level in levels):
        raise ValidationFailed("service_levels must be a list of non-empty strings.", service_levels=levels)
    if len(set(levels)) != len(levels):
        raise ValidationFailed("service_levels lists a level twice.", service_levels=levels)
    template = carrier.tracking_url_template
    if template and "{tracking_number}" not in template:
        raise ValidationFailed("tracking_url_template must contain {tracking_number}.", tracking_url_template=template)
    carrier_urls_check(carrier, resolve_names=False)  # no DNS inside the transaction: forms resolve before
    try:
        carrier.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        raise ValidationFailed(
            "Carrier is not valid: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()),
            **{k: " ".join(v) for k, v in exc.message_dict.items()},
        ) from None


@transaction.atomic
def carrier_delete(*, code: str) -> None:
    """Delete a carrier that never carried anything; one with shipments must be deactivated."""
    carrier = Carrier.objects.select_for_update().filter(code=code).first() if could_be_code(code) else None
    if carrier is None:
        raise CarrierNotFound(code)
    try:
        with transaction.atomic():
            carrier.delete()
    except ProtectedError:
        raise CarrierInUse(code, carrier.shipments.count()) from None
    append(f"carrier-{code}", [NewEvent("CarrierRemoved", {"code": code})])


def _carrier_for_plan(code: str) -> Carrier:
    """The carrier the planner chose; one the TMS knows but we do not is registered on the spot."""
    carrier = Carrier.objects.filter(code=code).first()
    if carrier is not None:
        return carrier
    log.info("carrier.registered_from_tms", carrier=code)
    return carrier_upsert(code=code, name=code)


# --- Planning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentLineSpec:
    sku: str
    qty: int
    holder: str


def shipment_plan(
    *,
    plan_key: str,
    from_location: str,
    lines: Sequence[ShipmentLineSpec],
    order_ref: str = "",
    transfer_ref: str = "",
    promised_date: date | str | None = None,
    carrier: str | None = None,
    service_level: str | None = None,
    planner: Planner | None = None,
) -> Shipment:
    """Plan a shipment of reserved units for an order (or a transfer) from one location.

    Idempotent per (reference, plan_key): a repeated call with the same content returns the
    shipment planned first, without calling the TMS again; the same key with other content is a
    `PlanKeyReused` error. The TMS call happens before any transaction (it is sent the plan key as
    its Idempotency-Key, so a TMS that honours it books once even when our commit is retried).

    Raises InvalidShipmentPlan / UnknownSku / UnknownLocation / CarrierNotFound /
    UnknownServiceLevel for bad input, and TmsUnavailable (retryable) or TmsRejected (not) when
    planning fails; every attempt that reached the planner is recorded as a PlanningAttempt.
    Reservations are checked at departure, under locks, not here.
    """
    order_ref, transfer_ref, plan_key = (
        (order_ref or "").strip(),
        (transfer_ref or "").strip(),
        (plan_key or "").strip(),
    )
    specs = _validate_plan(order_ref, transfer_ref, plan_key, from_location, lines)
    promised = _as_date(promised_date, "promised_date")
    reference = order_ref or transfer_ref

    existing = _existing_plan(order_ref, transfer_ref, plan_key, from_location, specs)
    if existing is not None:
        return existing

    if carrier:
        chosen = Carrier.objects.filter(code=carrier, active=True).first()
        if chosen is None:
            raise CarrierNotFound(carrier)
        if service_level and chosen.service_levels and service_level not in chosen.service_levels:
            raise UnknownServiceLevel(chosen.code, service_level, chosen.service_levels)

    planner = planner or planner_from_settings()
    request = TmsPlanRequest(
        reference=reference,
        plan_key=plan_key,
        from_location=from_location,
        lines=tuple(TmsLine(spec.sku, spec.qty) for spec in specs),
        promised_date=promised,
        carrier=carrier or None,
        service_level=service_level or None,
    )
    attempt = {"order_ref": order_ref, "transfer_ref": transfer_ref, "plan_key": plan_key, "planner": planner.name}
    try:
        plan = planner.plan(request)
    except TmsError as exc:
        PlanningAttempt.objects.create(
            **attempt,
            outcome=PlanningOutcome.RETRYABLE_FAILURE if exc.retryable else PlanningOutcome.REJECTED,
            error_code=exc.code,
            error_message=exc.message,
            http_attempts=exc.attempts,
        )
        log.warning("shipment.plan_failed", reference=reference, plan_key=plan_key, code=exc.code, error=exc.message)
        raise

    _carrier_for_plan(plan.carrier)
    try:
        return _record_plan(
            order_ref=order_ref,
            transfer_ref=transfer_ref,
            plan_key=plan_key,
            from_location=from_location,
            specs=specs,
            promised=promised,
            plan=plan,
            attempt=attempt,
        )
    except IntegrityError:
        existing = _existing_plan(order_ref, transfer_ref, plan_key, from_location, specs)
        if existing is not None:
            return existing
        error = TmsBadResponse(
            f"The planner gave tracking number {plan.tracking_number!r} of carrier {plan.carrier!r}, "
            "which another shipment already has.",
            attempts=plan.attempts,
            tracking_number=plan.tracking_number,
        )
        PlanningAttempt.objects.create(
            **attempt, outcome=PlanningOutcome.REJECTED, error_code=error.code, error_message=error.message
        )
        raise error from None


def _validate_plan(
    order_ref: str, transfer_ref: str, plan_key: str, from_location: str, lines: Sequence[ShipmentLineSpec]
) -> list[ShipmentLineSpec]:
    if bool(order_ref) == bool(transfer_ref):
        raise InvalidShipmentPlan(
            "A shipment is for exactly one of an order reference or a transfer reference.",
            order_ref=order_ref,
            transfer_ref=transfer_ref,
        )
    if len(order_ref) > 64 or len(transfer_ref) > 64:
        raise InvalidShipmentPlan("References are at most 64 characters.", reference=order_ref or transfer_ref)
    if not plan_key or len(plan_key) > 128:
        raise InvalidShipmentPlan("plan_key must be 1 to 128 characters.", plan_key=plan_key)
    if not lines:
        raise InvalidShipmentPlan("A shipment needs at least one line.", lines=[])
    inventory.get_location(from_location)
    seen: set[tuple[str, str]] = set()
    specs = []
    for index, line in enumerate(lines):
        qty = line.qty
        if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0:
            raise InvalidShipmentPlan(f"Line {index + 1}: qty must be a whole number above zero.", line=index, qty=qty)
        if not line.holder or not line.sku:
            raise InvalidShipmentPlan(f"Line {index + 1}: sku and holder are required.", line=index)
        if (line.sku, line.holder) in seen:
            raise InvalidShipmentPlan(
                f"Line {index + 1}: {line.sku} for {line.holder} appears twice; send one line.",
                line=index,
                sku=line.sku,
                holder=line.holder,
            )
        seen.add((line.sku, line.holder))
        inventory.get_item(line.sku)
        specs.append(ShipmentLineSpec(sku=line.sku, qty=qty, holder=line.holder))
    return specs


def _existing_plan(
    order_ref: str, transfer_ref: str, plan_key: str, from_location: str, specs: Sequence[ShipmentLineSpec]
) -> Shipment | None:
    existing = (
        Shipment.objects.filter(order_ref=order_ref, transfer_ref=transfer_ref, plan_key=plan_key)
        .prefetch_related("lines")
        .first()
    )
    if existing is None:
        return None
    same_lines = sorted((line.sku, line.qty, line.holder) for line in existing.lines.all()) == sorted(
        (spec.sku, spec.qty, spec.holder) for spec in specs
    )
    if not same_lines or existing.from_location != from_location:
        raise PlanKeyReused(reference=order_ref or transfer_ref, plan_key=plan_key, shipment_id=existing.pk)
    return existing


def _record_plan(
    *,
    order_ref: str,
    transfer_ref: str,
    plan_key: str,
    from_location: str,
    specs: Sequence[ShipmentLineSpec],
    promised: date | None,
    plan: TmsPlan,
    attempt: dict[str, Any],
) -> Shipment:
    with transaction.atomic():
        carrier = Carrier.objects.get(code=plan.carrier)
        now = timezone.now()
        shipment = Shipment.objects.create(
            order_ref=order_ref,
            transfer_ref=transfer_ref,
            plan_key=plan_key,
            from_location=from_location,
            carrier=carrier,
            service_level=plan.service_level,
            tracking_number=plan.tracking_number,
            promised_date=promised,
            estimated_arrival=plan.estimated_arrival,
            planned_at=now,
            status_changed_at=now,
        )
        lines = ShipmentLine.objects.bulk_create(
            [ShipmentLine(shipment=shipment, sku=spec.sku, qty=spec.qty, holder=spec.holder) for spec in specs]
        )
        PlanningAttempt.objects.create(
            **attempt, outcome=PlanningOutcome.PLANNED, http_attempts=plan.attempts, shipment=shipment
        )
        append(
            shipment.stream,
            [
                NewEvent(
                    "ShipmentPlanned",
                    _payload(
                        shipment,
                        lines,
                        plan_key=plan_key,
                        service_level=plan.service_level,
                        promised_date=_iso(promised),
                        estimated_arrival=_iso(plan.estimated_arrival),
                        planner=plan.planner,
                    ),
                    occurred_at=now,
                )
            ],
            expected_version=NO_STREAM,
        )
    log.info("shipment.planned", shipment_id=shipment.pk, reference=shipment.reference, carrier=carrier.code)
    return shipment


# --- Transitions --------------------------------------------------------------------------------


def _locked(shipment_id: int) -> Shipment:
    if not could_be_id(shipment_id):
        raise ShipmentNotFound(shipment_id)
    shipment = Shipment.objects.select_for_update(of=("self",)).select_related("carrier").filter(pk=shipment_id).first()
    if shipment is None:
        raise ShipmentNotFound(shipment_id)
    return shipment


def _when(at: datetime | None, field: str = "occurred_at") -> datetime:
    now = timezone.now()
    if at is None:
        return now
    if timezone.is_naive(at):
        raise ValidationFailed(f"{field} must carry a time zone.", **{field: str(at)})
    if at > now + FUTURE_TOLERANCE:
        raise ValidationFailed(f"{field} lies in the future.", **{field: at.isoformat()})
    return at


def _run(shipment: Shipment, action: str, *args: Any) -> None:
    """Run one FSM transition; an illegal one is a clear domain error (nothing is saved)."""
    try:
        getattr(shipment, action)(*args)
    except TransitionNotAllowed:
        raise InvalidShipmentTransition(
            shipment_id=shipment.pk, status=shipment.status, action=action.replace("_", " ")
        ) from None


def _depart(shipment: Shipment, lines: list[ShipmentLine], at: datetime, **extra: Any) -> NewEvent:
    """Departure: consume every line's reservation, then move to DEPARTED. Caller holds the row lock
    and appends the returned event after any others it has."""
    if shipment.status != ShipmentStatus.PLANNED:
        raise InvalidShipmentTransition(shipment_id=shipment.pk, status=shipment.status, action="depart")
    location = inventory.get_location(shipment.from_location)
    inventory.lock_balances((inventory.get_item(line.sku), location) for line in lines)
    for line in lines:
        try:
            inventory.consume_reservation(
                sku=line.sku,
                location=shipment.from_location,
                holder=line.holder,
                qty=line.qty,
                reference=shipment.stream,
                effective_at=at,
            )
        except (ReservationTooSmall, ReservationNotFound) as exc:
            raise DepartureRefused(
                shipment_id=shipment.pk,
                sku=line.sku,
                location=shipment.from_location,
                holder=line.holder,
                requested=line.qty,
                held=exc.fields.get("held", 0),
            ) from exc
    _run(shipment, "depart", at)
    return NewEvent("ShipmentDeparted", _payload(shipment, lines, departed_at=at.isoformat(), **extra), occurred_at=at)


def shipment_depart(*, shipment_id: int, occurred_at: datetime | None = None, note: str = "") -> Shipment:
    """Hand the shipment to the carrier: each line's reservation is consumed (on hand and reserved
    fall, ledger rows and stock events written), the status moves to DEPARTED and ShipmentDeparted
    is appended — all in one transaction. A line shipping more than its reservation holds refuses
    the whole departure (DepartureRefused) and nothing is written."""
    with transaction.atomic():
        shipment = _locked(shipment_id)
        at = _when(occurred_at)
        lines = list(shipment.lines.all())
        event = _depart(shipment, lines, at, source="api", note=note, implied=False)
        shipment.last_note = note or shipment.last_note
        shipment.save()
        append(shipment.stream, [event])
    return shipment


def shipment_cancel(*, shipment_id: int, reason: str, occurred_at: datetime | None = None) -> Shipment:
    """Cancel a shipment that has not departed. Reservations stay with the order (nothing was
    consumed); the order decides what to do with them when it sees ShipmentCancelled."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("A cancellation needs a reason.", reason=reason)
    with transaction.atomic():
        shipment = _locked(shipment_id)
        at = _when(occurred_at)
        _run(shipment, "cancel", at, reason)
        shipment.save()
        lines = list(shipment.lines.all())
        append(
            shipment.stream,
            [NewEvent("ShipmentCancelled", _payload(shipment, lines, reason=reason), occurred_at=at)],
        )
    return shipment


# --- Tracking updates ---------------------------------------------------------------------------


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
    shipment = _locked(shipment_id)
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
                        "occurred_at": _iso(update.occurred_at),
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


def _decide(shipment: Shipment, update: TrackingUpdate) -> tuple[str, str, list[NewEvent]]:
    """What one update does to a locked shipment: (outcome, detail, events to append)."""
    status, at = update.status, update.occurred_at
    duplicate = (
        TrackingUpdate.objects.filter(
            shipment=shipment,
            status=status,
            occurred_at=at,
            outcome__in=[UpdateOutcome.APPLIED, UpdateOutcome.STALE],
        )
        .exclude(pk=update.pk)
        .order_by("pk")
        .first()
    )
    if duplicate is not None:
        return UpdateOutcome.DUPLICATE, f"same as update {duplicate.pk} ({duplicate.outcome})", []
    current = shipment.status
    if current == ShipmentStatus.CANCELLED:
        return UpdateOutcome.REJECTED, f"shipment was cancelled at {_iso(shipment.cancelled_at)}; not applied", []
    if current == ShipmentStatus.DELIVERED:
        return (
            UpdateOutcome.STALE,
            f"shipment was delivered at {_iso(shipment.delivered_at)}; a later {status} does not move it back",
            [],
        )

    lines = list(shipment.lines.all())
    extra = {"source": update.source, "tracking_update_id": update.pk, "note": update.note}
    events: list[NewEvent] = []

    if status == TrackingStatus.DELAYED:
        _absorb(shipment, update)
        events.append(
            _delay_event(
                shipment, lines, DelayCause.CARRIER_REPORTED, update.note or "carrier reported a delay", at, **extra
            )
        )
        ShipmentDelay.objects.get_or_create(
            shipment=shipment, cause=DelayCause.CARRIER_REPORTED, defaults={"detail": update.note, "detected_at": at}
        )
        shipment.save()
        return UpdateOutcome.APPLIED, "delay recorded", events

    if current == ShipmentStatus.PLANNED:
        if status == TrackingStatus.EXCEPTION:
            return (
                UpdateOutcome.REJECTED,
                "shipment has not departed; an exception before departure is only recorded",
                [],
            )
        events.append(_depart(shipment, lines, at, **extra, implied=status != TrackingStatus.DEPARTED))
        current = shipment.status
        if status == TrackingStatus.DEPARTED:
            _absorb(shipment, update)
            shipment.save()
            return UpdateOutcome.APPLIED, "departed", events
    elif status == TrackingStatus.DEPARTED:
        return UpdateOutcome.STALE, f"shipment already departed at {_iso(shipment.departed_at)}", []

    if status == TrackingStatus.DELIVERED:
        _run(shipment, "deliver", at)
        events.append(
            _status_event(
                "ShipmentDelivered",
                shipment,
                lines,
                at,
                delivered_at=at.isoformat(),
                on_time=_on_time(shipment, at),
                **extra,
            )
        )
        detail = "delivered"
    elif status == current:
        # A repeated IN_TRANSIT or EXCEPTION scan: news only if it is newer than what we know.
        if shipment.last_update_at and at <= shipment.last_update_at:
            return UpdateOutcome.STALE, f"older than the latest update ({_iso(shipment.last_update_at)})", []
        shipment.status_changed_at = at
        events.append(_status_event(_EVENT_FOR[status], shipment, lines, at, repeated=True, **extra))
        detail = "progress recorded"
    else:
        # IN_TRANSIT <-> EXCEPTION, or out of DEPARTED: an older update must not undo a newer one.
        if current != ShipmentStatus.DEPARTED and at < shipment.status_changed_at:
            return (
                UpdateOutcome.STALE,
                f"older than the {current} at {_iso(shipment.status_changed_at)}; recorded, not applied",
                [],
            )
        _run(shipment, "mark_in_transit" if status == TrackingStatus.IN_TRANSIT else "mark_exception", at)
        events.append(_status_event(_EVENT_FOR[status], shipment, lines, at, repeated=False, **extra))
        detail = f"moved to {status}"
    _absorb(shipment, update)
    shipment.save()
    return UpdateOutcome.APPLIED, detail, events


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


def _status_event(
    event_type: str, shipment: Shipment, lines: list[ShipmentLine], at: datetime, **extra: Any
) -> NewEvent:
    return NewEvent(event_type, _payload(shipment, lines, occurred_at=at.isoformat(), **extra), occurred_at=at)


def _delay_event(
    shipment: Shipment, lines: list[ShipmentLine], cause: str, detail: str, at: datetime, **extra: Any
) -> NewEvent:
    return NewEvent(
        "ShipmentDelayed",
        _payload(
            shipment,
            lines,
            cause=cause,
            detail=detail,
            promised_date=_iso(shipment.promised_date),
            estimated_arrival=_iso(shipment.estimated_arrival),
            **extra,
        ),
        occurred_at=at,
    )


# --- Late detection -----------------------------------------------------------------------------


def delay_causes(shipment: Shipment, *, now: datetime, stale_after: timedelta) -> list[tuple[str, str]]:
    """The detector's causes that hold for this shipment right now: (cause, human detail)."""
    if shipment.status not in OPEN_STATUSES:
        return []
    causes = []
    promised, eta = shipment.promised_date, shipment.estimated_arrival
    if promised and eta and eta > promised:
        causes.append((DelayCause.ETA_AFTER_PROMISE, f"estimated arrival {eta} is after the promised {promised}"))
    if promised and timezone.localdate(now) > promised:
        causes.append((DelayCause.PROMISE_MISSED, f"promised for {promised}, still {shipment.status}"))
    if shipment.status in IN_FLIGHT_STATUSES:
        last = shipment.last_update_at or shipment.departed_at
        if last is not None and last < now - stale_after:
            hours = int((now - last).total_seconds() // 3600)
            causes.append((DelayCause.NO_UPDATE, f"no tracking update for {hours} h (since {last.isoformat()})"))
    return causes


def stale_after() -> timedelta:
    return timedelta(hours=settings.SHIPMENT_STALE_AFTER_HOURS)


def shipments_detect_late(*, now: datetime | None = None) -> list[ShipmentDelay]:
    """Mark open shipments that are late and append ShipmentDelayed once per (shipment, cause).

    Safe to run concurrently and repeatedly: each mark is made under the shipment's row lock and a
    unique (shipment, cause) index, so a cause is never announced twice.
    """
    from shipments import selectors

    now = now or timezone.now()
    window = stale_after()
    marked = []
    for shipment in selectors.late_candidates(now=now, stale_after=window):
        known = {delay.cause for delay in shipment.delays.all()}
        for cause, _ in delay_causes(shipment, now=now, stale_after=window):
            if cause in known:
                continue
            delay = _mark_delay(shipment.pk, cause, now=now, window=window)
            if delay is not None:
                marked.append(delay)
    return marked


def _mark_delay(shipment_id: int, cause: str, *, now: datetime, window: timedelta) -> ShipmentDelay | None:
    with transaction.atomic():
        shipment = _locked(shipment_id)
        holds = dict(delay_causes(shipment, now=now, stale_after=window))
        if cause not in holds or ShipmentDelay.objects.filter(shipment=shipment, cause=cause).exists():
            return None
        delay = ShipmentDelay.objects.create(shipment=shipment, cause=cause, detail=holds[cause], detected_at=now)
        event = append(
            shipment.stream,
            [_delay_event(shipment, list(shipment.lines.all()), cause, holds[cause], now, source="detector")],
        )[0]
        delay.event_position = event.position
        delay.save(update_fields=["event_position"])
    log.info("shipment.delayed", shipment_id=shipment_id, cause=cause)
    return delay


# --- Carrier feeds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedPollResult:
    carrier: str
    received: int
    outcomes: dict[str, int]


def carrier_feed_poll(*, code: str, timeout: float | None = None) -> FeedPollResult:
    """Read the carrier's tracking feed and ingest every item (each stored, then applied).

    The HTTP call happens outside any transaction. A feed that cannot be read records the error
    on the carrier and raises CarrierFeedError (retryable or not); one bad item never stops the
    others: it is stored as malformed (or rejected) and the poll goes on.
    """
    carrier = Carrier.objects.filter(code=code).first()
    if carrier is None:
        raise CarrierNotFound(code)
    if not carrier.tracking_feed_url:
        raise ValidationFailed(f"Carrier {code!r} has no tracking feed URL.", carrier=code)
    polled_at = timezone.now()
    try:
        items = fetch_feed(
            carrier.tracking_feed_url,
            carrier=code,
            since=carrier.feed_cursor,
            timeout=timeout if timeout is not None else settings.CARRIER_FEED_TIMEOUT,
        )
    except CarrierFeedError as exc:
        Carrier.objects.filter(pk=carrier.pk).update(feed_polled_at=polled_at, feed_last_error=exc.message)
        log.warning("carrier_feed.failed", carrier=code, error=exc.message)
        raise
    outcomes: dict[str, int] = {}
    cursor = carrier.feed_cursor
    for item in items:
        try:
            update = tracking_update_ingest(raw=item, source=UpdateSource.FEED, carrier=code, raise_rejected=False)
        except MalformedTrackingUpdate:
            outcome = UpdateOutcome.MALFORMED
        else:
            outcome = update.outcome
            if update.occurred_at and (cursor is None or update.occurred_at > cursor):
                cursor = update.occurred_at
        outcomes[str(outcome)] = outcomes.get(str(outcome), 0) + 1
    Carrier.objects.filter(pk=carrier.pk).update(feed_polled_at=polled_at, feed_last_error="", feed_cursor=cursor)
    log.info("carrier_feed.polled", carrier=code, received=len(items), outcomes=outcomes)
    return FeedPollResult(carrier=code, received=len(items), outcomes=outcomes)


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


# --- Helpers ------------------------------------------------------------------------------------


def _payload(shipment: Shipment, lines: Sequence[ShipmentLine], **extra: Any) -> dict[str, Any]:
    return {
        "shipment_id": shipment.pk,
        "order_ref": shipment.order_ref,
        "transfer_ref": shipment.transfer_ref,
        "from_location": shipment.from_location,
        "carrier": shipment.carrier.code,
        "tracking_number": shipment.tracking_number or "",
        "status": shipment.status,
        "lines": [
            {"sku": line.sku, "location": shipment.from_location, "qty": line.qty, "holder": line.holder}
            for line in lines
        ],
        **extra,
    }


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _as_date(value: date | str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{name} {value!r} is not an ISO date (YYYY-MM-DD).", **{name: str(value)}) from None
