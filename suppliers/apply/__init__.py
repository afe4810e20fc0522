"""Applying canonical documents (acknowledgements, ship notices, invoices, inventory advice, 997s).

Two phases, both inside the message's transaction:

1. `plan_documents` resolves every reference (supplier parts → SKUs, PO numbers → orders, lines,
   units → base units) without writing, and collects *every* problem it finds, so an 856 with three
   unknown part numbers is quarantined naming all three. Any problem → `MessageRejected`.
2. `apply_plans` locks the stock balances (inventory's fixed order) the plans touch — the purchase
   orders were locked, by id, when planning read them — then writes and appends events. A domain
   error here rolls the whole message back.

Business rules live here and in `suppliers.services`; the adapters only said what the message says.
One module per document type (`po_ack`, `ship_notice`, `invoice`, `inventory_advice`,
`functional_ack`), beside `resolve` (references and units) and `plans` (the two phases).
"""

from suppliers.apply.base import Context, Plan
from suppliers.apply.plans import apply_plans, plan_documents

__all__ = ["Context", "Plan", "apply_plans", "plan_documents"]
