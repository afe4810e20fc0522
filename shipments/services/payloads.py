"""The payload every shipment event carries, and the events built from it.

Every shipment event payload carries `shipment_id`, `order_ref`, `transfer_ref`, `from_location`,
`carrier`, `tracking_number`, `status` and `lines: [{sku, location, qty, holder}]`, so other
apps (orders) can react by subscription without reading shipment tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from scm.events.store import NewEvent
from shipments.models import Shipment, ShipmentLine


def shipment_stream(shipment_id: int) -> str:
    return f"shipment-{shipment_id}"


def status_event(
    event_type: str, shipment: Shipment, lines: list[ShipmentLine], at: datetime, **extra: Any
) -> NewEvent:
    return NewEvent(event_type, shipment_payload(shipment, lines, occurred_at=at.isoformat(), **extra), occurred_at=at)


def delay_event(
    shipment: Shipment, lines: list[ShipmentLine], cause: str, detail: str, at: datetime, **extra: Any
) -> NewEvent:
    return NewEvent(
        "ShipmentDelayed",
        shipment_payload(
            shipment,
            lines,
            cause=cause,
            detail=detail,
            promised_date=iso(shipment.promised_date),
            estimated_arrival=iso(shipment.estimated_arrival),
            **extra,
        ),
        occurred_at=at,
    )


def shipment_payload(shipment: Shipment, lines: Sequence[ShipmentLine], **extra: Any) -> dict[str, Any]:
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


def iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
