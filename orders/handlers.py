"""Orders reacting to other apps' events, through the log (at-least-once, idempotent)."""

from __future__ import annotations

from orders import services
from orders.references import order_id_from_ref
from scm.events.store import RecordedEvent

STOCK_ARRIVAL_TYPES = (
    "StockReceived",
    "TransferReceived",
    "StockAdjusted",
    "StockCounted",
    "ReservationReleased",
)
SHIPMENT_TYPES = ("ShipmentPlanned", "ShipmentDeparted", "ShipmentDelivered", "ShipmentCancelled")


def on_stock_available(event: RecordedEvent) -> None:
    """Stock came in (or was freed): waiting backorders of that SKU get it by priority, then age."""
    payload = event.payload
    if event.type == "StockAdjusted" and payload["qty"] <= 0:
        return
    if event.type == "StockCounted" and payload["difference"] <= 0:
        return
    services.fill_backorders(sku=payload["sku"])


def on_shipment_event(event: RecordedEvent) -> None:
    payload = event.payload
    order_ref = payload.get("order_ref") or ""
    if order_id_from_ref(order_ref) is None:
        return
    shipment_id = int(payload.get("shipment_id") or event.stream.rsplit("-", 1)[1])
    lines = payload.get("lines", [])
    if event.type == "ShipmentPlanned":
        services.shipment_planned(
            order_ref=order_ref, shipment_id=shipment_id, from_location=payload.get("from_location", ""), lines=lines
        )
    elif event.type == "ShipmentDeparted":
        services.shipment_departed(order_ref=order_ref, shipment_id=shipment_id, lines=lines)
    elif event.type == "ShipmentDelivered":
        services.shipment_delivered(order_ref=order_ref, shipment_id=shipment_id, lines=lines)
    elif event.type == "ShipmentCancelled":
        services.shipment_cancelled(order_ref=order_ref, shipment_id=shipment_id, lines=lines)
