"""Every write to stock goes through here, one module per job:

- `lock_objects`: row locks on balances, reservations and inbound supply, in one fixed order;
- `recording`: applying movements to locked balances, the stock event and its ledger rows;
- `movements`: receipts, adjustments, cycle counts;
- `transfers`: transfers between locations;
- `reservations`: reserve, release, consume;
- `inbound`: inbound supply (expected units);
- `inbound_moves`: many inbound-supply moves in a fixed number of statements (a ship notice's lines);
- `master_data`: items and locations.

Each service is one transaction that (1) locks the balances it touches, always in (item id,
location id) order so concurrent multi-balance operations cannot deadlock, (2) checks the rule and
raises a domain error before writing anything, (3) updates the balance projection, (4) appends one
event on the stock stream `stock-<sku>@<location>` and (5) writes the ledger rows that point at
that event. The CHECK constraints on balances are the last line of defence.

The names other apps use are importable from `inventory.services` itself. The lookups `get_item`,
`get_items` and `get_location` are reads and live in `inventory.selectors`.
"""

from inventory.selectors import get_item, get_items, get_location
from inventory.services.inbound import add_inbound, move_inbound, remove_inbound, reschedule_inbound
from inventory.services.inbound_moves import InboundMove, move_inbound_many
from inventory.services.lock_objects import lock_balances, lock_balances_by_code, lock_balances_for_skus
from inventory.services.master_data import ITEM_FIELDS, LOCATION_FIELDS, item_upsert, location_upsert
from inventory.services.movements import ADJUSTMENT_REASONS, adjust, count, receive
from inventory.services.recording import stock_stream
from inventory.services.reservations import ReservationRequest, consume_reservation, release, reserve, reserve_many
from inventory.services.transfers import dispatch_transfer, receive_transfer, transfer

__all__ = [
    "ADJUSTMENT_REASONS",
    "ITEM_FIELDS",
    "InboundMove",
    "LOCATION_FIELDS",
    "ReservationRequest",
    "add_inbound",
    "adjust",
    "consume_reservation",
    "count",
    "dispatch_transfer",
    "get_item",
    "get_items",
    "get_location",
    "item_upsert",
    "location_upsert",
    "lock_balances",
    "lock_balances_by_code",
    "lock_balances_for_skus",
    "move_inbound",
    "move_inbound_many",
    "receive",
    "receive_transfer",
    "release",
    "remove_inbound",
    "reschedule_inbound",
    "reserve",
    "reserve_many",
    "stock_stream",
    "transfer",
]
