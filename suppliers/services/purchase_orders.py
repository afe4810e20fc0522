"""The purchase-order lifecycle: create (draft), send (X12 850), cancel, close.

Cancel and close withdraw whatever inbound supply is still expected for the order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory import services as inventory
from scm.conflicts import retry_on_conflict
from scm.errors import ValidationFailed
from scm.events.store import NewEvent, append
from suppliers.adapters.x12 import Outbound850, Outbound850Line, build_850
from suppliers.exceptions import DuplicatePurchaseOrder, UnknownSupplier
from suppliers.models import OutboundKind, OutboundMessage, PurchaseOrder, PurchaseOrderLine, Supplier, SupplierItem
from suppliers.selectors import open_inbound, open_shipments
from suppliers.services.control_numbers import (
    ControlNumbers,
    allocate_control_numbers,
    our_x12_identity,
    outbound_store,
)
from suppliers.services.lock_objects import lock_order, lock_order_stock, lock_supplier_of, require_transition


@dataclass(frozen=True)
class LineInput:
    sku: str
    qty: int
    unit_price: Decimal


def _line_inputs(lines: Iterable[dict | LineInput]) -> list[LineInput]:
    result = []
    for index, line in enumerate(lines):
        data = line if isinstance(line, dict) else line.__dict__
        qty, price = data.get("qty"), data.get("unit_price", 0)
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise ValidationFailed(f"lines[{index}].qty must be a whole number of at least 1.", line=index, qty=qty)
        try:
            price = Decimal(str(price))
        except (InvalidOperation, ValueError):
            raise ValidationFailed(f"lines[{index}].unit_price {price!r} is not a number.", line=index) from None
        if not price.is_finite() or price < 0:
            raise ValidationFailed(f"lines[{index}].unit_price must be zero or more.", line=index)
        sku = data.get("sku")
        if not isinstance(sku, str) or not sku:
            raise ValidationFailed(f"lines[{index}].sku is required.", line=index)
        result.append(LineInput(sku=sku, qty=qty, unit_price=price.quantize(Decimal("0.0001"))))
    return result


@transaction.atomic
def purchase_order_create(
    *,
    number: str,
    supplier: str,
    destination: str,
    lines: Sequence[dict | LineInput],
    requested_date: date | None = None,
    currency: str = "USD",
    source: str = "api",
    note: str = "",
) -> PurchaseOrder:
    """A DRAFT purchase order; every SKU and the destination must exist. Records PurchaseOrderCreated."""
    number = (number or "").strip()
    if not number:
        raise ValidationFailed("A purchase order needs a number.", number=number)
    owner = _active_supplier(supplier)
    if PurchaseOrder.objects.filter(number=number).exists():
        raise DuplicatePurchaseOrder(number)
    inventory_selectors.get_location(destination)
    inputs = _line_inputs(lines)
    if not inputs:
        raise ValidationFailed("A purchase order needs at least one line.", lines=[])
    for line in inputs:
        inventory_selectors.get_item(line.sku)
    try:
        with transaction.atomic():
            order = PurchaseOrder.objects.create(
                number=number,
                supplier=owner,
                destination=destination,
                requested_date=requested_date,
                currency=currency,
                source=source,
                note=note,
            )
    except IntegrityError:
        raise DuplicatePurchaseOrder(number) from None
    _create_lines(order, owner, inputs)
    payload = {
        "number": number,
        "supplier": owner.code,
        "destination": destination,
        "source": source,
        "requested_date": requested_date.isoformat() if requested_date else None,
        "lines": [
            {"line_no": i, "sku": line.sku, "qty": line.qty, "unit_price": str(line.unit_price)}
            for i, line in enumerate(inputs, start=1)
        ],
    }
    append(order.stream, [NewEvent(type="PurchaseOrderCreated", payload=payload)])
    return order


def _active_supplier(code: str) -> Supplier:
    try:
        owner = Supplier.objects.get(code=code)
    except Supplier.DoesNotExist:
        raise UnknownSupplier(code) from None
    if not owner.active:
        raise ValidationFailed(f"Supplier {code!r} is inactive.", supplier=code)
    return owner


def _create_lines(order: PurchaseOrder, owner: Supplier, inputs: list[LineInput]) -> None:
    """The order's lines, each with the supplier's part number for its SKU when it has one."""
    parts = dict(
        SupplierItem.objects.filter(supplier=owner, sku__in=[line.sku for line in inputs])
        .order_by("-id")
        .values_list("sku", "supplier_part")
    )
    PurchaseOrderLine.objects.bulk_create(
        [
            PurchaseOrderLine(
                purchase_order=order,
                line_no=index,
                sku=line.sku,
                supplier_part=parts.get(line.sku, ""),
                qty=line.qty,
                unit_price=line.unit_price,
            )
            for index, line in enumerate(inputs, start=1)
        ]
    )


def purchase_order_create_draft(
    *,
    supplier: str,
    destination: str,
    lines: Sequence[dict | LineInput],
    number: str | None = None,
    requested_date: date | None = None,
    source: str = "replenishment",
    note: str = "",
) -> PurchaseOrder:
    """A draft PO for the dashboard's replenishment page: `lines` are {sku, qty[, unit_price]}.

    Without a number one is generated (`R<yyyymmdd>-<6 hex>`). Prices default to zero for the
    planner to fill in before sending.
    """
    generated = number or f"R{timezone.now():%Y%m%d}-{uuid.uuid4().hex[:6].upper()}"
    filled = [{**line, "unit_price": line.get("unit_price", 0)} if isinstance(line, dict) else line for line in lines]
    return purchase_order_create(
        number=generated,
        supplier=supplier,
        destination=destination,
        lines=filled,
        requested_date=requested_date,
        source=source,
        note=note,
    )


@transaction.atomic
def purchase_order_send(*, po_id: int, created_at: datetime | None = None) -> OutboundMessage:
    """Send a DRAFT order: build its X12 850 with the supplier's next control numbers, store it as an
    OutboundMessage, move the order to SENT and record PurchaseOrderSent (with the control numbers).
    Locks the supplier (its control numbers), then the order: the order inbound processing locks them in."""
    lock_supplier_of(po_id)
    order = lock_order(po_id)
    require_transition(order, order.mark_sent, "sent")
    supplier = order.supplier
    if not supplier.isa_id:
        raise ValidationFailed(
            f"Supplier {supplier.code} has no X12 id (isa_id); an 850 cannot be addressed.", supplier=supplier.code
        )
    numbers = allocate_control_numbers(supplier_id=supplier.pk)
    stamp = created_at or timezone.now()
    body = build_850(_outbound_850(order, numbers, stamp))
    outbound = outbound_store(
        supplier=supplier, kind=OutboundKind.PO_850, body=body, numbers=numbers, purchase_order=order
    )
    order.mark_sent()
    order.save()
    payload = {
        "number": order.number,
        "supplier": supplier.code,
        "outbound_message_id": outbound.pk,
        "interchange_control": numbers.interchange,
        "group_control": numbers.group,
        "set_control": numbers.transaction_set,
        "sha256": outbound.sha256,
    }
    append(order.stream, [NewEvent(type="PurchaseOrderSent", payload=payload, occurred_at=stamp)])
    return outbound


def _outbound_850(order: PurchaseOrder, numbers: ControlNumbers, stamp: datetime) -> Outbound850:
    """What the 850 of this order says, addressed from us to the supplier's X12 id."""
    supplier = order.supplier
    qualifier, our_id = our_x12_identity()
    return Outbound850(
        sender_qualifier=qualifier,
        sender_id=our_id,
        receiver_qualifier=supplier.isa_qualifier or "ZZ",
        receiver_id=supplier.isa_id,
        interchange_control=numbers.interchange,
        group_control=numbers.group,
        set_control=numbers.transaction_set,
        created_at=stamp,
        po_number=order.number,
        po_date=timezone.localdate(stamp),
        currency=order.currency,
        application_receiver=supplier.gs_id or supplier.isa_id,
        lines=[
            Outbound850Line(
                sku=line.sku,
                quantity=line.qty,
                unit="EA",
                unit_price=line.unit_price,
                supplier_part=line.supplier_part or None,
                line_number=str(line.line_no),
            )
            for line in order.lines.order_by("line_no")
        ],
    )


def _withdraw_inbound(order: PurchaseOrder, reason: str) -> list[dict]:
    """Stop expecting whatever is still inbound for the order (cancel/close)."""
    lines = list(order.lines.order_by("line_no"))
    shipments = open_shipments(lines)
    open_refs = open_inbound(order, lines, shipments)
    sku_of = {line.inbound_reference: line.sku for line in lines}
    for shipped_lines in shipments.values():
        sku_of.update({shipped.inbound_reference: shipped.sku for shipped in shipped_lines})
    lock_order_stock([order])
    removed = []
    for ref, qty in sorted(open_refs.items()):
        if qty > 0:
            inventory.inbound_remove(sku=sku_of[ref], location=order.destination, reference=ref, reason=reason)
            removed.append({"reference": ref, "sku": sku_of[ref], "qty": qty})
    return removed


@retry_on_conflict
@transaction.atomic
def purchase_order_cancel(*, po_id: int, reason: str = "") -> PurchaseOrder:
    """Cancel an order that nothing was received for yet; its inbound supply is withdrawn."""
    return _end_order(
        po_id, reason=reason, transition="mark_cancelled", action="cancelled", event="PurchaseOrderCancelled"
    )


@retry_on_conflict
@transaction.atomic
def purchase_order_close(*, po_id: int, reason: str = "") -> PurchaseOrder:
    """Close an order (fully received, or short-closed): whatever is still inbound is withdrawn."""
    return _end_order(po_id, reason=reason, transition="mark_closed", action="closed", event="PurchaseOrderClosed")


def _end_order(po_id: int, *, reason: str, transition: str, action: str, event: str) -> PurchaseOrder:
    """Lock the order, check the transition, withdraw its inbound supply, move it and record `event`."""
    order = lock_order(po_id)
    require_transition(order, getattr(order, transition), action)
    removed = _withdraw_inbound(order, reason=f"po_{action}")
    getattr(order, transition)()
    order.save()
    payload = {"number": order.number, "reason": reason, "inbound_removed": removed}
    append(order.stream, [NewEvent(type=event, payload=payload)])
    return order
