"""Every write to orders goes through here, one module per job:

- `customers`: customer master data;
- `creation`: creating an order (idempotent per customer and idempotency key);
- `allocation`: allocating lines to stock and filling backorders;
- `cancellation`: cancel, fail, retry;
- `shipments`: what shipment events do to orders;
- `common`: the order lock, transitions, events and workflow scheduling they share.

Lock order inside a transaction: the order row first (select_for_update), then inventory balances
(inventory services lock them in their fixed order), then events are appended last.
The names other modules use are importable from `orders.services` itself.
"""

from orders.services.allocation import AllocationOutcome, fill_backorders, order_allocate
from orders.services.cancellation import order_cancel, order_fail, order_retry
from orders.services.creation import LineInput, order_create
from orders.services.customers import customer_upsert
from orders.services.shipments import shipment_cancelled, shipment_delivered, shipment_departed, shipment_planned

__all__ = [
    "AllocationOutcome",
    "LineInput",
    "customer_upsert",
    "fill_backorders",
    "order_allocate",
    "order_cancel",
    "order_create",
    "order_fail",
    "order_retry",
    "shipment_cancelled",
    "shipment_delivered",
    "shipment_departed",
    "shipment_planned",
]
