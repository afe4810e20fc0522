"""Ship notices (856, JSON `asn`): units on their way, moved from the PO line's inbound supply
onto the ship notice's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from inventory import services as inventory
from scm.events.store import NewEvent, append
from suppliers.apply.base import Context, Plan
from suppliers.apply.resolve import Resolver, base_units, problem
from suppliers.documents import ShipNoticeDoc
from suppliers.exceptions import Problem
from suppliers.models import PO, PurchaseOrder, PurchaseOrderLine, ShipNotice, ShipNoticeLine
from suppliers.selectors import open_inbound

SHIPPABLE = (PO.SENT, PO.ACKNOWLEDGED, PO.PARTIALLY_RECEIVED)


@dataclass
class ShipNoticePlan(Plan):
    """One ship notice; sets of one interchange that repeat its shipment id add their lines to it."""

    doc: ShipNoticeDoc | None = None
    expected_on: date | None = None
    lines: list[tuple[Any, PurchaseOrderLine, str, int, date]] = field(default_factory=list)

    def apply(self, ctx: Context) -> dict[str, Any]:
        notice = self._create_notice(ctx)
        orders = {order.pk: PurchaseOrder.objects.get(pk=order.pk) for order in self.orders}
        fresh = {
            line.pk: line
            for line in PurchaseOrderLine.objects.filter(purchase_order__in=list(orders)).select_related(
                "purchase_order"
            )
        }
        refs = _open_line_supply(orders, fresh)
        by_order: dict[int, list[dict]] = defaultdict(list)
        for number, (doc_line, planned, sku, qty, expected_on) in enumerate(self.lines, start=1):
            line = fresh[planned.pk]
            order = orders[line.purchase_order_id]
            shipped = ShipNoticeLine.objects.create(
                notice=notice, line_no=number, po_line=line, sku=sku, qty=qty, pack=(doc_line.pack or "")[:40]
            )
            shipped.notice = notice
            line.qty_shipped += qty
            line.save(update_fields=["qty_shipped"])
            moved = _move_supply_onto_notice(order, line, shipped, refs, expected_on)
            by_order[order.pk].append(
                {
                    "asn_line_no": number,
                    "po_line_no": line.line_no,
                    "sku": sku,
                    "qty": qty,
                    "inbound_reference": shipped.inbound_reference,
                    "moved_from_po_line": moved,
                    "pack": shipped.pack or None,
                    "expected_on": expected_on.isoformat(),
                }
            )
        for order_id, lines in by_order.items():
            self._announce(ctx, notice, orders[order_id], lines)
        return {
            "document": "asn",
            "ship_notice": self.doc.number,
            "ship_notice_id": notice.pk,
            "purchase_orders": sorted(orders[pk].number for pk in by_order),
            "lines": len(self.lines),
        }

    def _create_notice(self, ctx: Context) -> ShipNotice:
        doc = self.doc
        return ShipNotice.objects.create(
            supplier=ctx.supplier,
            number=doc.number,
            message=ctx.message,
            shipped_on=doc.shipped_on,
            expected_on=self.expected_on,
            carrier=(doc.carrier or "")[:64],
            bill_of_lading=(doc.bill_of_lading or "")[:64],
        )

    def _announce(self, ctx: Context, notice: ShipNotice, order: PurchaseOrder, lines: list[dict]) -> None:
        """ShipNoticeReceived on the order's stream, with the notice's lines for that order."""
        doc = self.doc
        payload = {
            "supplier": ctx.supplier.code,
            "ship_notice": doc.number,
            "ship_notice_id": notice.pk,
            "purchase_order": order.number,
            "message_id": ctx.message_id,
            "shipped_on": doc.shipped_on.isoformat() if doc.shipped_on else None,
            "expected_on": self.expected_on.isoformat(),
            "carrier": doc.carrier,
            "bill_of_lading": doc.bill_of_lading,
            "lines": lines,
        }
        append(order.stream, [NewEvent(type="ShipNoticeReceived", payload=payload)])


def _open_line_supply(orders: dict[int, PurchaseOrder], lines: dict[int, PurchaseOrderLine]) -> dict[str, int]:
    """Inbound supply still expected per PO-line reference. Only a confirmed line can have supply of its
    own to move onto the ship notice."""
    refs: dict[str, int] = {}
    for order in orders.values():
        confirmed = [
            line for line in lines.values() if line.purchase_order_id == order.pk and line.qty_confirmed is not None
        ]
        refs.update(open_inbound(order, confirmed))
    return refs


def _move_supply_onto_notice(
    order: PurchaseOrder, line: PurchaseOrderLine, shipped: ShipNoticeLine, refs: dict[str, int], expected_on: date
) -> int:
    """The shipped units are now expected under the ship notice line; as many as the PO line still
    expected stop being expected there. Returns how many moved off the PO line."""
    moved = min(shipped.qty, refs.get(line.inbound_reference, 0))
    inventory.move_inbound(
        sku=shipped.sku,
        location=order.destination,
        from_reference=line.inbound_reference,
        from_qty=moved,
        to_reference=shipped.inbound_reference,
        qty=shipped.qty,
        expected_date=expected_on,
        source="asn",
    )
    if moved:
        refs[line.inbound_reference] -= moved
    return moved


def _over_shipment(
    r: Resolver, plan: ShipNoticePlan, order: PurchaseOrder, line: PurchaseOrderLine, qty: int, origin
) -> Problem | None:
    """With an over-shipment tolerance in the supplier's profile, shipping more than the line's
    ordered (or confirmed) quantity plus that percentage, counting earlier ship notices and this
    one's other lines, is refused. Without one, any quantity is taken as sent."""
    tolerance = r.profile.over_shipment
    if tolerance is None:
        return None
    target = line.qty if line.qty_confirmed is None else line.qty_confirmed
    allowed = int(target * (1 + tolerance / 100))
    earlier = sum(planned_qty for _, planned, _, planned_qty, _ in plan.lines if planned.pk == line.pk)
    total = line.qty_shipped + earlier + qty
    if total <= allowed:
        return None
    return problem(
        origin,
        "over_shipment",
        f"line {line.line_no} of purchase order {order.number} would have {total} shipped against "
        f"{target} ordered; the {r.profile.label} allows {tolerance}% over ({allowed})",
        value=str(qty),
    )


def plan_ship_notice(
    doc: ShipNoticeDoc, r: Resolver, problems: list[Problem], seen: dict[str, ShipNoticePlan]
) -> Plan | None:
    """Plan a ship notice. A shipment id already applied is a duplicate; one repeated by another set of
    the same interchange is the same shipment told in parts, so its lines join the first plan."""
    if ShipNotice.objects.filter(supplier=r.supplier, number=doc.number).exists():
        problems.append(
            problem(
                doc.origin,
                "duplicate_document",
                f"ship notice {doc.number!r} of supplier {r.supplier.code} was already received",
                value=doc.number,
            )
        )
        return None
    transit = settings.SUPPLIER_DEFAULT_TRANSIT_DAYS
    departed = doc.shipped_on or doc.notice_date
    expected = doc.expected_on or (departed + timedelta(days=transit) if departed else None)
    expected = expected or timezone.localdate() + timedelta(days=transit)
    plan = seen.get(doc.number)
    fresh = plan is None
    if plan is None:
        plan = seen[doc.number] = ShipNoticePlan(doc=doc, expected_on=expected)
    orders: dict[int, PurchaseOrder] = {order.pk: order for order in plan.orders}
    for doc_line in doc.lines:
        x12 = doc_line.origin.set_control is not None
        order = r.order(
            doc_line.po_number,
            doc_line.origin,
            SHIPPABLE,
            "ship notice",
            segment="PRF" if x12 else None,
            element="PRF01" if x12 else None,
        )
        resolved = r.product(doc_line.product, doc_line.origin)
        if isinstance(order, Problem) or isinstance(resolved, Problem):
            problems += [p for p in (order, resolved) if isinstance(p, Problem)]
            continue
        line = r.line(order, doc_line.line_no, resolved.sku, doc_line.origin)
        qty = base_units(doc_line.qty, doc_line.unit, resolved, doc_line.origin)
        if isinstance(line, Problem) or isinstance(qty, Problem):
            problems += [p for p in (line, qty) if isinstance(p, Problem)]
            continue
        over = _over_shipment(r, plan, order, line, qty, doc_line.origin)
        if over is not None:
            problems.append(over)
            continue
        orders[order.pk] = order
        plan.lines.append((doc_line, line, resolved.sku, qty, expected))
        plan.skus_at.add((resolved.sku, order.destination))
    if not doc.lines:
        problems.append(problem(doc.origin, "empty_document", f"ship notice {doc.number!r} ships no items"))
    plan.orders = list(orders.values())
    return plan if fresh else None
