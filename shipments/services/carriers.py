"""Carrier master data: create, change, delete, and carriers the TMS names."""

from __future__ import annotations

import re
from typing import Any

import structlog
from django.db import transaction
from django.db.models import ProtectedError

from scm.errors import ValidationFailed
from scm.events.store import NewEvent, append
from scm.master_data import master_data_upsert
from shipments.adapters.carrier_urls import carrier_urls_check
from shipments.exceptions import CarrierExists, CarrierInUse, CarrierNotFound
from shipments.models import Carrier
from shipments.selectors import could_be_code

log = structlog.get_logger(__name__)


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
    code = (code or "").strip()
    return master_data_upsert(
        Carrier,
        key_field="code",
        key=code,
        fields=fields,
        allowed=CARRIER_FIELDS,
        event_type="CarrierDefined",
        stream=f"carrier-{code}",
        defaults={"name": code},
        check=_check_carrier,
        validate_in_database=False,
    )


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


def _check_carrier(carrier: Carrier) -> None:
    """The carrier's own rules; a new default unmarks the previous one."""
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
    if carrier.is_default:
        Carrier.objects.select_for_update().filter(is_default=True).exclude(code=carrier.code).update(is_default=False)


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


def carrier_for_plan(code: str) -> Carrier:
    """The carrier the planner chose; one the TMS knows but we do not is registered on the spot."""
    carrier = Carrier.objects.filter(code=code).first()
    if carrier is not None:
        return carrier
    log.info("carrier.registered_from_tms", carrier=code)
    return carrier_upsert(code=code, name=code)
