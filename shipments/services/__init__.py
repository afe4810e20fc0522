"""Every write to shipments goes through here, one module per job:

- `carriers`: carrier master data;
- `planning`: planning a shipment (the TMS call happens before any transaction);
- `transitions`: departure (consumes the order's reservations through `inventory.services` in the
  same transaction) and cancellation;
- `tracking`: tracking updates, stored raw then applied;
- `late`: the late-shipment detector (its rules are in `shipments.lateness`);
- `feeds`: carrier feed polling;
- `payloads`: the payload every shipment event carries.

The names other apps and the API use are importable from `shipments.services` itself.
"""

from shipments.services.carriers import CARRIER_FIELDS, carrier_create, carrier_delete, carrier_update, carrier_upsert
from shipments.services.feeds import FeedPollResult, carrier_feed_poll
from shipments.services.late import shipments_detect_late
from shipments.services.planning import ShipmentLineSpec, shipment_plan
from shipments.services.tracking import (
    UNMATCHED_STREAM,
    MalformedTrackingUpdate,
    tracking_update_ingest,
    tracking_update_process,
    tracking_updates_reprocess,
)
from shipments.services.transitions import lock_shipments, shipment_cancel, shipment_depart

__all__ = [
    "CARRIER_FIELDS",
    "UNMATCHED_STREAM",
    "FeedPollResult",
    "MalformedTrackingUpdate",
    "ShipmentLineSpec",
    "carrier_create",
    "carrier_delete",
    "carrier_feed_poll",
    "carrier_update",
    "carrier_upsert",
    "lock_shipments",
    "shipment_cancel",
    "shipment_depart",
    "shipment_plan",
    "shipments_detect_late",
    "tracking_update_ingest",
    "tracking_update_process",
    "tracking_updates_reprocess",
]
