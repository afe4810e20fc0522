"""Planning a shipment: validate, call the planner (TMS) outside any transaction, record the plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import selectors as inventory_selectors
from scm.events.store import NO_STREAM, NewEvent, append
from scm.validation import as_date
from shipments.adapters.tms import Planner, TmsLine, TmsPlan, TmsPlanRequest, planner_from_settings
from shipments.exceptions import (
    CarrierNotFound,
    InvalidShipmentPlan,
    PlanKeyReused,
    TmsBadResponse,
    TmsError,
    UnknownServiceLevel,
)
from shipments.models import Carrier, PlanningAttempt, PlanningOutcome, Shipment, ShipmentLine
from shipments.services.carriers import carrier_for_plan
from shipments.services.payloads import iso, shipment_payload

log = structlog.get_logger(__name__)


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
    promised = None if promised_date in (None, "") else as_date(promised_date, "promised_date")
    existing = _existing_plan(order_ref, transfer_ref, plan_key, from_location, specs)
    if existing is not None:
        return existing
    if carrier:
        _check_carrier(carrier, service_level)

    planner = planner or planner_from_settings()
    request = TmsPlanRequest(
        reference=order_ref or transfer_ref,
        plan_key=plan_key,
        from_location=from_location,
        lines=tuple(TmsLine(spec.sku, spec.qty) for spec in specs),
        promised_date=promised,
        carrier=carrier or None,
        service_level=service_level or None,
    )
    attempt = {"order_ref": order_ref, "transfer_ref": transfer_ref, "plan_key": plan_key, "planner": planner.name}
    plan = _ask_planner(planner, request, attempt)
    carrier_for_plan(plan.carrier)
    recorded = {"order_ref": order_ref, "transfer_ref": transfer_ref, "plan_key": plan_key}
    try:
        return _record_plan(**recorded, from_location=from_location, specs=specs, promised=promised, plan=plan,
                            attempt=attempt)  # fmt: skip
    except IntegrityError:
        # The same plan committed concurrently, or the planner reused another shipment's tracking number.
        existing = _existing_plan(order_ref, transfer_ref, plan_key, from_location, specs)
        if existing is not None:
            return existing
        raise _tracking_number_taken(plan, attempt) from None


def _check_carrier(carrier: str, service_level: str | None) -> None:
    chosen = Carrier.objects.filter(code=carrier, active=True).first()
    if chosen is None:
        raise CarrierNotFound(carrier)
    if service_level and chosen.service_levels and service_level not in chosen.service_levels:
        raise UnknownServiceLevel(chosen.code, service_level, chosen.service_levels)


def _ask_planner(planner: Planner, request: TmsPlanRequest, attempt: dict[str, Any]) -> TmsPlan:
    """The planner's plan; a failure is recorded as a PlanningAttempt and raised."""
    try:
        return planner.plan(request)
    except TmsError as exc:
        PlanningAttempt.objects.create(
            **attempt,
            outcome=PlanningOutcome.RETRYABLE_FAILURE if exc.retryable else PlanningOutcome.REJECTED,
            error_code=exc.code,
            error_message=exc.message,
            http_attempts=exc.attempts,
        )
        log.warning(
            "shipment.plan_failed", reference=request.reference, plan_key=request.plan_key, code=exc.code,
            error=exc.message,
        )  # fmt: skip
        raise


def _tracking_number_taken(plan: TmsPlan, attempt: dict[str, Any]) -> TmsBadResponse:
    error = TmsBadResponse(
        f"The planner gave tracking number {plan.tracking_number!r} of carrier {plan.carrier!r}, "
        "which another shipment already has.",
        attempts=plan.attempts,
        tracking_number=plan.tracking_number,
    )
    PlanningAttempt.objects.create(
        **attempt, outcome=PlanningOutcome.REJECTED, error_code=error.code, error_message=error.message
    )
    return error


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
    inventory_selectors.get_location(from_location)
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
        specs.append(ShipmentLineSpec(sku=line.sku, qty=qty, holder=line.holder))
    inventory_selectors.get_items(spec.sku for spec in specs)  # every SKU known, in one query
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
                    shipment_payload(
                        shipment,
                        lines,
                        plan_key=plan_key,
                        service_level=plan.service_level,
                        promised_date=iso(promised),
                        estimated_arrival=iso(plan.estimated_arrival),
                        planner=plan.planner,
                    ),
                    occurred_at=now,
                )
            ],
            expected_version=NO_STREAM,
        )
    log.info("shipment.planned", shipment_id=shipment.pk, reference=shipment.reference, carrier=carrier.code)
    return shipment
