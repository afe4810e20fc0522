"""Every write to orders goes through here, one module per job:

- `customers`: customer master data;
- `creation`: creating an order (idempotent per customer and idempotency key);
- `allocation`: allocating lines to stock and filling backorders;
- `cancellation`: cancel, fail, retry;
- `shipments`: what shipment events do to orders;
- `waiting`: workflow steps waiting for missing configuration, and resuming them;
- `common`: the order lock, transitions, events and workflow scheduling they share.

Lock order inside a transaction: the order row first (select_for_update), then inventory balances
(inventory services lock them in their fixed order), then events are appended last.
The names other modules use are importable from `orders.services` itself.
"""

from orders.services.allocation import AllocationOutcome, backorders_fill, order_allocate
from orders.services.cancellation import order_cancel, order_fail, order_retry
from orders.services.creation import LineInput, order_create
from orders.services.customers import customer_upsert
from orders.services.shipments import (
    order_record_shipment_cancelled,
    order_record_shipment_delivered,
    order_record_shipment_departed,
    order_record_shipment_planned,
)
from orders.services.waiting import workflow_wait, workflows_resume_waiting

__all__ = [
    "AllocationOutcome",
    "LineInput",
    "backorders_fill",
    "customer_upsert",
    "order_allocate",
    "order_cancel",
    "order_create",
    "order_fail",
    "order_record_shipment_cancelled",
    "order_record_shipment_delivered",
    "order_record_shipment_departed",
    "order_record_shipment_planned",
    "order_retry",
    "workflow_wait",
    "workflows_resume_waiting",
]
