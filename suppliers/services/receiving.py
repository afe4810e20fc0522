"""Receiving goods against a purchase order or a ship notice: inbound supply becomes stock on hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F

from inventory import services as inventory
from scm.conflicts import retry_on_conflict
from scm.events.store import NewEvent, append
from suppliers.exceptions import ReceiptRefused
from suppliers.models import AckStatus, PurchaseOrder, PurchaseOrderLine, ShipNotice, ShipNoticeLine
from suppliers.selectors import open_inbound, open_shipments
from suppliers.services.lock_objects import lock_order, lock_order_stock, require_transition


@dataclass
class _Receipt:
    line: PurchaseOrderLine
    qty: int
    shipped: list[tuple[ShipNoticeLine, int]]


def _advance_receiving(order: PurchaseOrder) -> None:
    lines = list(order.lines.all())
    active = [line for line in lines if line.ack_status != AckStatus.REJECTED]
    if all(line.is_complete for line in active):
        order.mark_received()
    else:
        order.mark_partially_received()
    order.save()


def _receive(
    order: PurchaseOrder,
    receipts: list[_Receipt],
    *,
    reference: str,
    notice: ShipNotice | None,
    effective_at: datetime | None,
) -> dict:
    """Move received units from inbound to on hand, consuming inbound references in a fixed order:
    the ship notice lines named, then the PO line's own supply, then its other open ship notice lines.
    The caller has locked the order and everything it touches (`lock_order_stock`)."""
    require_transition(order, order.mark_partially_received, "received")
    lines = [receipt.line for receipt in receipts]
    shipments = open_shipments(lines)
    open_refs = open_inbound(order, lines, shipments)
    done = [
        _receive_line(order, receipt, shipments, open_refs, reference=reference, effective_at=effective_at)
        for receipt in receipts
    ]
    _advance_receiving(order)
    payload = {
        "number": order.number,
        "destination": order.destination,
        "reference": reference,
        "ship_notice": notice.number if notice else None,
        "status": order.status,
        "lines": done,
    }
    append(order.stream, [NewEvent(type="PurchaseOrderReceived", payload=payload, occurred_at=effective_at)])
    return payload


def _receive_line(
    order: PurchaseOrder,
    receipt: _Receipt,
    shipments: dict[int, list[ShipNoticeLine]],
    open_refs: dict[str, int],
    *,
    reference: str,
    effective_at: datetime | None,
) -> dict:
    """Receive one PO line's units, taking them off its inbound references in order (see _sources);
    units beyond what was expected are received without one."""
    line, remaining = receipt.line, receipt.qty
    taken: list[dict] = []
    for ref, shipped in _sources(receipt, shipments):
        available = open_refs.get(ref, 0)
        if remaining == 0 or available <= 0:
            continue
        qty = min(remaining, available)
        inventory.stock_receive(
            sku=line.sku,
            location=order.destination,
            qty=qty,
            reference=reference,
            inbound_reference=ref,
            effective_at=effective_at,
        )
        open_refs[ref] = available - qty
        remaining -= qty
        taken.append({"inbound_reference": ref, "qty": qty})
        if shipped is not None:
            ShipNoticeLine.objects.filter(pk=shipped.pk).update(qty_received=F("qty_received") + qty)
    if remaining:
        inventory.stock_receive(
            sku=line.sku, location=order.destination, qty=remaining, reference=reference, effective_at=effective_at
        )
        taken.append({"inbound_reference": None, "qty": remaining})
    line.qty_received += receipt.qty
    line.save(update_fields=["qty_received"])
    return {
        "line_no": line.line_no,
        "sku": line.sku,
        "qty": receipt.qty,
        "qty_received_total": line.qty_received,
        "from_inbound": taken,
    }


def _sources(receipt: _Receipt, shipments: dict[int, list[ShipNoticeLine]]) -> list[tuple[str, ShipNoticeLine | None]]:
    """Units that arrive are most likely the ones announced as shipped: ASN supply first (the named
    notice lines, then the line's other notices, oldest first), then the PO line's own supply."""
    line = receipt.line
    sources: list[tuple[str, ShipNoticeLine | None]] = [(s.inbound_reference, s) for s, _ in receipt.shipped]
    sources += [
        (s.inbound_reference, s)
        for s in shipments.get(line.pk, [])
        if s.inbound_reference not in {r for r, _ in sources}
    ]
    sources.append((line.inbound_reference, None))
    return sources


def _quantities(lines: dict[int, int] | None, what: str) -> dict[int, int] | None:
    if lines is None:
        return None
    for key, qty in lines.items():
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise ReceiptRefused(f"{what} {key}: quantity {qty!r} must be a whole number of at least 1.", line=key)
    return lines


@retry_on_conflict
@transaction.atomic
def purchase_order_receive(
    *,
    po_id: int,
    lines: dict[int, int] | None = None,
    reference: str = "",
    effective_at: datetime | None = None,
) -> dict:
    """Receive goods against a purchase order: `lines` maps line_no → quantity received; None receives
    everything still expected. Full → RECEIVED, otherwise PARTIALLY_RECEIVED. Records PurchaseOrderReceived."""
    lines = _quantities(lines, "line")
    order = lock_order(po_id)
    require_transition(order, order.mark_partially_received, "received")
    by_no = {line.line_no: line for line in order.lines.select_related("purchase_order").order_by("line_no")}
    if lines is None:
        wanted = {no: line.qty_expected for no, line in by_no.items() if line.qty_expected > 0}
        if not wanted:
            raise ReceiptRefused(f"Purchase order {order.number} expects nothing more.", number=order.number)
    else:
        missing = sorted(set(lines) - set(by_no))
        if missing:
            raise ReceiptRefused(
                f"Purchase order {order.number} has no line {missing[0]}.", number=order.number, line=missing[0]
            )
        wanted = lines
    receipts = [_Receipt(line=by_no[no], qty=qty, shipped=[]) for no, qty in sorted(wanted.items())]
    lock_order_stock([order])
    return _receive(
        order, receipts, reference=reference or f"PO-{order.number}", notice=None, effective_at=effective_at
    )


@retry_on_conflict
@transaction.atomic
def ship_notice_receive(
    *,
    notice_id: int,
    lines: dict[int, int] | None = None,
    effective_at: datetime | None = None,
) -> list[dict]:
    """Receive goods against a ship notice: `lines` maps ASN line_no → quantity; None receives what the
    notice announced and is not received yet. Each purchase order involved records PurchaseOrderReceived."""
    lines = _quantities(lines, "ship notice line")
    notice = ShipNotice.objects.select_related("supplier").filter(pk=notice_id).first()
    if notice is None:
        raise ReceiptRefused(f"No ship notice {notice_id}.", notice=notice_id)
    asn_lines = list(notice.lines.select_related("po_line__purchase_order", "notice__supplier").order_by("line_no"))
    by_no = {line.line_no: line for line in asn_lines}
    if lines is None:
        wanted = {line.line_no: line.qty - line.qty_received for line in asn_lines if line.qty > line.qty_received}
        if not wanted:
            raise ReceiptRefused(f"Ship notice {notice.number} has been received in full.", notice=notice.number)
    else:
        missing = sorted(set(lines) - set(by_no))
        if missing:
            raise ReceiptRefused(f"Ship notice {notice.number} has no line {missing[0]}.", line=missing[0])
        wanted = lines
    order_ids = sorted({by_no[no].po_line.purchase_order_id for no in wanted})
    orders = {pk: lock_order(pk) for pk in order_ids}
    lock_order_stock(orders.values())
    results = []
    for order_id in order_ids:
        order = orders[order_id]
        grouped: dict[int, _Receipt] = {}
        for no, qty in sorted(wanted.items()):
            shipped = by_no[no]
            if shipped.po_line.purchase_order_id != order_id:
                continue
            receipt = grouped.setdefault(shipped.po_line_id, _Receipt(line=shipped.po_line, qty=0, shipped=[]))
            receipt.qty += qty
            receipt.shipped.append((shipped, qty))
        for receipt in grouped.values():
            receipt.line.purchase_order = order
        results.append(
            _receive(
                order,
                list(grouped.values()),
                reference=f"ASN-{notice.supplier.code}-{notice.number}",
                notice=notice,
                effective_at=effective_at,
            )
        )
    return results
