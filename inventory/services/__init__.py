"""Every write to stock goes through here, one module per job:

- `lock_objects`: row locks on balances, reservations and inbound supply, in one fixed order;
- `recording`: applying movements to locked balances, the stock event and its ledger rows;
- `movements`: receipts, adjustments, cycle counts (`stock_receive`, `stock_adjust`, `stock_count`);
- `transfers`: transfers between locations;
- `reservations`: `stock_reserve(_many)`, `reservation_release(_many)`, `reservation_consume(_many)`: the one
  reservation implementation;
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
from inventory.services.inbound import inbound_add, inbound_move, inbound_remove, inbound_reschedule
from inventory.services.inbound_moves import InboundMove, inbound_move_many
from inventory.services.lock_objects import (
    lock_balances,
    lock_balances_by_code,
    lock_balances_for_skus,
    lock_reservations,
    lock_supplies,
)
from inventory.services.master_data import ITEM_FIELDS, LOCATION_FIELDS, item_upsert, location_upsert
from inventory.services.movements import ADJUSTMENT_REASONS, stock_adjust, stock_count, stock_receive
from inventory.services.recording import stock_stream
from inventory.services.reservations import (
    HeldUnits,
    ReservationRequest,
    reservation_consume,
    reservation_consume_many,
    reservation_release,
    reservation_release_many,
    stock_reserve,
    stock_reserve_many,
)
from inventory.services.transfers import stock_transfer, transfer_dispatch, transfer_receive

__all__ = [
    "ADJUSTMENT_REASONS",
    "HeldUnits",
    "ITEM_FIELDS",
    "InboundMove",
    "LOCATION_FIELDS",
    "ReservationRequest",
    "get_item",
    "get_items",
    "get_location",
    "inbound_add",
    "inbound_move",
    "inbound_move_many",
    "inbound_remove",
    "inbound_reschedule",
    "item_upsert",
    "location_upsert",
    "lock_balances",
    "lock_balances_by_code",
    "lock_balances_for_skus",
    "lock_reservations",
    "lock_supplies",
    "reservation_consume",
    "reservation_consume_many",
    "reservation_release",
    "reservation_release_many",
    "stock_adjust",
    "stock_count",
    "stock_receive",
    "stock_reserve",
    "stock_reserve_many",
    "stock_stream",
    "stock_transfer",
    "transfer_dispatch",
    "transfer_receive",
]
