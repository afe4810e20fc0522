"""Orders reacting to other apps' events, through the log (at-least-once, idempotent)."""

from __future__ import annotations

from orders import services
from orders.references import order_id_from_ref
from scm.events.store import RecordedEvent
from shipments.exceptions import NoDefaultCarrier

STOCK_ARRIVAL_TYPES = (
    "StockReceived",
    "TransferReceived",
    "StockAdjusted",
    "StockCounted",
    "ReservationReleased",
)
SHIPMENT_TYPES = ("ShipmentPlanned", "ShipmentDeparted", "ShipmentDelivered", "ShipmentCancelled")
# Carrier changes ride on the shipments subscription: no second checkpoint to walk the whole log.
SHIPMENTS_APP_TYPES = (*SHIPMENT_TYPES, "CarrierDefined")


def on_stock_available(event: RecordedEvent) -> None:
    """Stock came in (or was freed): waiting backorders of that SKU get it by priority, then age."""
    payload = event.payload
    if event.type == "StockAdjusted" and payload["qty"] <= 0:
        return
    if event.type == "StockCounted" and payload["difference"] <= 0:
        return
    services.backorders_fill(sku=payload["sku"])


def on_shipments_app_event(event: RecordedEvent) -> None:
    if event.type == "CarrierDefined":
        on_carrier_defined(event)
    else:
        on_shipment_event(event)


def on_carrier_defined(event: RecordedEvent) -> None:
    """An active carrier marked default is what orders waiting for a carrier need: resume them now
    (shipments code never calls orders code; the carrier service's event is the kick)."""
    if event.payload.get("is_default") and event.payload.get("active"):
        services.workflows_resume_waiting(waiting_for=NoDefaultCarrier.waits_for)


def on_shipment_event(event: RecordedEvent) -> None:
    payload = event.payload
    order_ref = payload.get("order_ref") or ""
    if order_id_from_ref(order_ref) is None:
        return
    shipment_id = int(payload.get("shipment_id") or event.stream.rsplit("-", 1)[1])
    lines = payload.get("lines", [])
    if event.type == "ShipmentPlanned":
        services.order_record_shipment_planned(
            order_ref=order_ref, shipment_id=shipment_id, from_location=payload.get("from_location", ""), lines=lines
        )
    elif event.type == "ShipmentDeparted":
        services.order_record_shipment_departed(order_ref=order_ref, shipment_id=shipment_id, lines=lines)
    elif event.type == "ShipmentDelivered":
        services.order_record_shipment_delivered(order_ref=order_ref, shipment_id=shipment_id, lines=lines)
    elif event.type == "ShipmentCancelled":
        services.order_record_shipment_cancelled(order_ref=order_ref, shipment_id=shipment_id, lines=lines)
