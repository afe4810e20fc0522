"""Every write to suppliers, purchase orders and receipts goes through here, one module per job:

- `master_data`: suppliers and their items;
- `purchase_orders`: the purchase-order lifecycle (create, send, cancel, close);
- `receiving`: receiving against a purchase order or a ship notice;
- `control_numbers`: X12 control numbers and the outbound messages we store;
- `lock_objects`: the purchase-order and stock locks taken first.

Each service is one transaction that takes its row locks first (purchase order, supplier, the stock
balances it will touch, in a fixed order), checks its rules and raises a domain error before
writing anything, then writes and appends its events last (appends serialise on the event store's
lock, see scm/events/store.py). Stock itself is only ever written through `inventory.services`.

Applying inbound documents (855, 856, 810, 846, 997 and their JSON/CSV twins) lives in
`suppliers.apply`; storing and processing raw messages in `suppliers.inbound`. The names other
modules use are importable from `suppliers.services` itself.
"""

from suppliers.services.control_numbers import (
    ControlNumbers,
    allocate_control_numbers,
    our_x12_identity,
    outbound_insert,
    outbound_message,
    outbound_store,
)
from suppliers.services.lock_objects import lock_order_stock
from suppliers.services.master_data import (
    SUPPLIER_FIELDS,
    get_supplier,
    supplier_item_delete,
    supplier_item_upsert,
    supplier_stream,
    supplier_upsert,
)
from suppliers.services.purchase_orders import (
    LineInput,
    purchase_order_cancel,
    purchase_order_close,
    purchase_order_create,
    purchase_order_create_draft,
    purchase_order_send,
)
from suppliers.services.receiving import purchase_order_receive, ship_notice_receive

__all__ = [
    "SUPPLIER_FIELDS",
    "ControlNumbers",
    "LineInput",
    "allocate_control_numbers",
    "get_supplier",
    "lock_order_stock",
    "our_x12_identity",
    "outbound_insert",
    "outbound_message",
    "outbound_store",
    "purchase_order_cancel",
    "purchase_order_close",
    "purchase_order_create",
    "purchase_order_create_draft",
    "purchase_order_receive",
    "purchase_order_send",
    "ship_notice_receive",
    "supplier_item_delete",
    "supplier_item_upsert",
    "supplier_stream",
    "supplier_upsert",
]
