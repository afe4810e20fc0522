"""Every read of shipments the API, admin, dashboard and tasks make, with its joins, so query counts
stay flat as data grows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone

from scm.events.store import RecordedEvent, read_stream
from shipments.exceptions import CarrierNotFound, ShipmentNotFound
from shipments.lateness import delay_causes, stale_after
from shipments.models import (
    IN_FLIGHT_STATUSES,
    OPEN_STATUSES,
    Carrier,
    DelayCause,
    Shipment,
    ShipmentDelay,
    ShipmentStatus,
    TrackingUpdate,
    UpdateOutcome,
)


def carriers(*, active: bool | None = None) -> QuerySet[Carrier]:
    rows = Carrier.objects.all()
    if active is not None:
        rows = rows.filter(active=active)
    return rows.order_by("code")


MAX_ID = 2**63 - 1


def could_be_id(value: int) -> bool:
    """Whether a number from a URL could be a primary key at all (PostgreSQL refuses larger ones)."""
    return 0 < value <= MAX_ID


def could_be_code(value: str) -> bool:
    """Whether a key from a URL could name a carrier at all (PostgreSQL refuses NUL characters)."""
    return 0 < len(value) <= 32 and "\x00" not in value


def carrier_get(*, code: str) -> Carrier:
    carrier = Carrier.objects.filter(code=code).first() if could_be_code(code) else None
    if carrier is None:
        raise CarrierNotFound(code)
    return carrier


def carriers_with_feeds() -> list[str]:
    return list(
        Carrier.objects.filter(active=True)
        .exclude(tracking_feed_url="")
        .order_by("code")
        .values_list("code", flat=True)
    )


def order_ref_for(value: str) -> str:
    """`?order=` accepts an order id (42) or an order reference (order-42)."""
    value = value.strip()
    return f"order-{value}" if value.isdigit() else value


def shipments(
    *,
    order: str | None = None,
    transfer: str | None = None,
    status: str | None = None,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> QuerySet[Shipment]:
    rows = Shipment.objects.select_related("carrier").prefetch_related("lines")
    if order:
        rows = rows.filter(order_ref=order_ref_for(order))
    if transfer:
        rows = rows.filter(transfer_ref=transfer)
    if status:
        rows = rows.filter(status=status)
    if carrier:
        rows = rows.filter(carrier__code=carrier)
    if tracking_number:
        rows = rows.filter(tracking_number=tracking_number)
    return rows


def shipment_get(*, shipment_id: int) -> Shipment:
    if not could_be_id(shipment_id):
        raise ShipmentNotFound(shipment_id)
    shipment = (
        Shipment.objects.select_related("carrier").prefetch_related("lines", "delays").filter(pk=shipment_id).first()
    )
    if shipment is None:
        raise ShipmentNotFound(shipment_id)
    return shipment


def shipment_events(*, shipment_id: int) -> list[RecordedEvent]:
    if not could_be_id(shipment_id) or not Shipment.objects.filter(pk=shipment_id).exists():
        raise ShipmentNotFound(shipment_id)
    return read_stream(f"shipment-{shipment_id}")


def tracking_updates(*, shipment_id: int) -> QuerySet[TrackingUpdate]:
    """Every update received for the shipment, applied or not, in arrival order."""
    if not could_be_id(shipment_id) or not Shipment.objects.filter(pk=shipment_id).exists():
        raise ShipmentNotFound(shipment_id)
    return TrackingUpdate.objects.filter(shipment_id=shipment_id).order_by("pk")


def unmatched_tracking_updates() -> QuerySet[TrackingUpdate]:
    """Updates whose tracking number matched no shipment: ops' to-do list."""
    return TrackingUpdate.objects.filter(outcome=UpdateOutcome.UNKNOWN_TRACKING).order_by("-pk")


# --- Late and at-risk shipments ---------------------------------------------------------------


def _late_filter(now: datetime, stale_after: timedelta) -> Q:
    today = timezone.localdate(now)
    return (
        Q(estimated_arrival__gt=F("promised_date"))
        | Q(promised_date__lt=today)
        | Q(status__in=IN_FLIGHT_STATUSES, last_update_at__lt=now - stale_after)
        | Q(status__in=IN_FLIGHT_STATUSES, last_update_at__isnull=True, departed_at__lt=now - stale_after)
    )


def late_candidates(*, now: datetime, stale_after: timedelta) -> QuerySet[Shipment]:
    """Open shipments that meet at least one of the detector's conditions (see shipments.lateness.delay_causes)."""
    return (
        Shipment.objects.filter(status__in=OPEN_STATUSES)
        .filter(_late_filter(now, stale_after))
        .select_related("carrier")
        .prefetch_related("delays")
        .order_by("pk")
    )


@dataclass(frozen=True)
class LateShipment:
    shipment_id: int
    order_ref: str
    transfer_ref: str
    status: str
    carrier: str
    tracking_number: str
    from_location: str
    promised_date: date | None
    estimated_arrival: date | None
    last_update_at: datetime | None
    risk: str
    """"late" (a delay cause holds) or "at_risk" (not late yet, but see reasons)."""
    reasons: list[str]
    detail: list[str]
    first_flagged_at: datetime | None


def late_shipments(*, now: datetime | None = None, include_at_risk: bool = True) -> list[LateShipment]:
    """Open shipments that are late, then (optionally) those at risk, each with its order reference.

    Late (reasons are delay causes): ETA after the promised date; promised date passed; no
    update for SHIPMENT_STALE_AFTER_HOURS while in flight; carrier reported a delay.
    At risk: in EXCEPTION; still PLANNED with the promised date within SHIPMENT_AT_RISK_DAYS;
    in flight with no update for half the stale threshold.
    Computed from the shipments' current facts, so the list is right even before the periodic
    detector has run; `first_flagged_at` says when the detector (or a carrier) first flagged it.
    """
    now = now or timezone.now()
    stale = stale_after()
    today = timezone.localdate(now)
    late_q = _late_filter(now, stale) | Q(delays__cause=DelayCause.CARRIER_REPORTED)
    at_risk_q = (
        Q(status=ShipmentStatus.EXCEPTION)
        | Q(status=ShipmentStatus.PLANNED, promised_date__lte=today + timedelta(days=settings.SHIPMENT_AT_RISK_DAYS))
        | Q(status__in=IN_FLIGHT_STATUSES, last_update_at__lt=now - stale / 2)
    )
    wanted = late_q | at_risk_q if include_at_risk else late_q
    rows = (
        Shipment.objects.filter(status__in=OPEN_STATUSES)
        .filter(pk__in=Shipment.objects.filter(wanted).values("pk"))
        .select_related("carrier")
        .prefetch_related(Prefetch("delays", queryset=ShipmentDelay.objects.order_by("detected_at")))
        .order_by(F("promised_date").asc(nulls_last=True), "pk")
    )
    found = []
    for shipment in rows:
        delays = list(shipment.delays.all())
        causes = delay_causes(shipment, now=now, stale_after=stale)
        reasons = [cause for cause, _ in causes]
        detail = [text for _, text in causes]
        for delay in delays:
            if delay.cause == DelayCause.CARRIER_REPORTED:
                reasons.append(delay.cause)
                detail.append(
                    f"carrier reported a delay: {delay.detail}" if delay.detail else "carrier reported a delay"
                )
        risk = "late" if reasons else "at_risk"
        if not reasons:
            reasons, detail = _at_risk_reasons(shipment, now=now, today=today, stale=stale)
            if not reasons or not include_at_risk:
                continue
        found.append(
            LateShipment(
                shipment_id=shipment.pk,
                order_ref=shipment.order_ref,
                transfer_ref=shipment.transfer_ref,
                status=shipment.status,
                carrier=shipment.carrier.code,
                tracking_number=shipment.tracking_number or "",
                from_location=shipment.from_location,
                promised_date=shipment.promised_date,
                estimated_arrival=shipment.estimated_arrival,
                last_update_at=shipment.last_update_at,
                risk=risk,
                reasons=reasons,
                detail=detail,
                first_flagged_at=delays[0].detected_at if delays else None,
            )
        )
    found.sort(key=lambda row: row.risk != "late")
    return found


def _at_risk_reasons(
    shipment: Shipment, *, now: datetime, today: date, stale: timedelta
) -> tuple[list[str], list[str]]:
    reasons, detail = [], []
    if shipment.status == ShipmentStatus.EXCEPTION:
        reasons.append("exception")
        detail.append(f"carrier reported an exception: {shipment.last_note}" if shipment.last_note else "in exception")
    if (
        shipment.status == ShipmentStatus.PLANNED
        and shipment.promised_date
        and shipment.promised_date <= today + timedelta(days=settings.SHIPMENT_AT_RISK_DAYS)
    ):
        reasons.append("not_departed")
        detail.append(f"not departed, promised for {shipment.promised_date}")
    if shipment.status in IN_FLIGHT_STATUSES and shipment.last_update_at and shipment.last_update_at < now - stale / 2:
        reasons.append("quiet")
        detail.append(f"no tracking update since {shipment.last_update_at.isoformat()}")
    return reasons, detail
