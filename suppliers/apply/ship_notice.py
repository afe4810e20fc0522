"""Ship notices (856, JSON `asn`): units on their way, moved from the PO line's inbound supply
onto the ship notice's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import connection
from django.utils import timezone

from inventory import selectors as inventory_selectors
from inventory import services as inventory
from scm import raw_sql
from scm.bulk_sql import add_by_id_statement
from scm.events.store import NewEvent
from suppliers.apply.base import Context, Plan
from suppliers.apply.resolve import Resolver, base_units, problem
from suppliers.documents import ShipNoticeDoc
from suppliers.exceptions import Problem
from suppliers.models import PO, PurchaseOrder, PurchaseOrderLine, ShipNotice, ShipNoticeLine
from suppliers.services.lock_objects import lock_stock_at

SHIPPABLE = (PO.SENT, PO.ACKNOWLEDGED, PO.PARTIALLY_RECEIVED)
NOTICE_FIELDS = (
    "supplier_id",
    "number",
    "message_id",
    "shipped_on",
    "expected_on",
    "carrier",
    "bill_of_lading",
    "created_at",
)


@dataclass
class ShipNoticePlan(Plan):
    """One ship notice; sets of one interchange that repeat its shipment id add their lines to it."""

    doc: ShipNoticeDoc | None = None
    expected_on: date | None = None
    lines: list[tuple[Any, PurchaseOrderLine, str, int, date]] = field(default_factory=list)
    touches_shipments: ClassVar[bool] = False

    def po_lines(self) -> list[PurchaseOrderLine]:
        return list({planned.pk: planned for _, planned, _, _, _ in self.lines}.values())

    def apply(self, ctx: Context) -> dict[str, Any]:
        """Write the notice, its lines and the PO lines' shipped quantities in bulk, move the inbound
        supply of every line in one inventory call (balances locked by `apply_plans`), announce per order."""
        notice = self._create_notice(ctx)
        orders = {pk: ctx.orders.get(pk) or PurchaseOrder.objects.get(pk=pk) for pk in {o.pk for o in self.orders}}
        lines = {planned.pk: planned for _, planned, _, _, _ in self.lines}
        for line in lines.values():
            line.purchase_order = orders[line.purchase_order_id]
        shipped, line_writes = self._line_writes(notice, lines)
        refs = _open_line_supply(ctx, orders, lines)
        stock = _locked_stock(ctx, {(line.sku, orders[line.po_line.purchase_order_id].destination) for line in shipped})
        moves, by_order = [], defaultdict(list)
        for line, (_doc_line, _planned, _sku, _qty, expected_on) in zip(shipped, self.lines, strict=True):
            order = orders[line.po_line.purchase_order_id]
            moved = min(line.qty, refs.get(line.po_line.inbound_reference, 0))
            refs[line.po_line.inbound_reference] = refs.get(line.po_line.inbound_reference, 0) - moved
            balance = stock[(line.sku, order.destination)]
            moves.append(
                inventory.InboundMove(
                    item=balance.item,
                    location=balance.location,
                    from_reference=line.po_line.inbound_reference,
                    from_qty=moved,
                    to_reference=line.inbound_reference,
                    qty=line.qty,
                    expected_date=expected_on,
                )
            )
            by_order[order.pk].append(_announced_line(line, moved, expected_on))
        # The orders' ShipNoticeReceived go in the same append as the moves' events (one round trip).
        inventory.inbound_move_many(
            moves=moves,
            balances={(b.item_id, b.location_id): b for b in stock.values()},
            supplies={(s.item_id, s.location_id, s.reference): s for s in (ctx.supplies or {}).values()},
            also=[self._announcement(ctx, notice, orders[order_id], lines) for order_id, lines in by_order.items()],
            writes_first=line_writes,
        )
        return {
            "document": "asn",
            "ship_notice": self.doc.number,
            "ship_notice_id": notice.pk,
            "purchase_orders": sorted(orders[pk].number for pk in by_order),
            "lines": len(self.lines),
        }

    def _line_writes(
        self, notice: ShipNotice, lines: dict[int, PurchaseOrderLine]
    ) -> tuple[list[ShipNoticeLine], list[raw_sql.Statement]]:
        """The notice's lines and the two statements that write them: the lines in one insert (no ids read
        back: nothing needs them) and the PO lines' shipped quantities in one update (added in SQL to what
        the row holds: the orders are locked, the lines read before the lock need not be fresh). They go
        to the database with the inventory moves' writes, in one round trip."""
        shipped, added = [], defaultdict(int)
        for number, (doc_line, planned, sku, qty, _expected_on) in enumerate(self.lines, start=1):
            line = lines[planned.pk]
            added[line.pk] += qty
            shipped.append(
                ShipNoticeLine(
                    notice=notice, line_no=number, po_line=line, sku=sku, qty=qty, pack=(doc_line.pack or "")[:40]
                )
            )
        writes = [
            raw_sql.insert_statement(
                ShipNoticeLine,
                ("notice_id", "line_no", "po_line_id", "sku", "qty", "qty_received", "pack"),
                [(notice.pk, s.line_no, s.po_line.pk, s.sku, s.qty, s.qty_received, s.pack) for s in shipped],
            ),
            add_by_id_statement(PurchaseOrderLine, "qty_shipped", added),
        ]
        return shipped, writes

    def _create_notice(self, ctx: Context) -> ShipNotice:
        doc = self.doc
        notice = ShipNotice(
            supplier=ctx.supplier,
            number=doc.number,
            message=ctx.message,
            shipped_on=doc.shipped_on,
            expected_on=self.expected_on,
            carrier=(doc.carrier or "")[:64],
            bill_of_lading=(doc.bill_of_lading or "")[:64],
            created_at=timezone.now(),
        )
        return raw_sql.create(notice, NOTICE_FIELDS)

    def _announcement(
        self, ctx: Context, notice: ShipNotice, order: PurchaseOrder, lines: list[dict]
    ) -> tuple[str, list[NewEvent]]:
        """ShipNoticeReceived for the order's stream, with the notice's lines for that order."""
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
        return order.stream, [NewEvent(type="ShipNoticeReceived", payload=payload)]


def _open_line_supply(
    ctx: Context, orders: dict[int, PurchaseOrder], lines: dict[int, PurchaseOrderLine]
) -> dict[str, int]:
    """Inbound supply still expected per PO-line reference: what `apply_plans` locked, else one query.
    Only a confirmed line has supply of its own (the lines were read under the orders' locks, so
    confirmation cannot change)."""
    if ctx.supplies is not None:
        return {reference: supply.quantity for reference, supply in ctx.supplies.items() if supply.quantity > 0}
    return inventory_selectors.inbound_quantities(
        (line.inbound_reference, line.sku, orders[line.purchase_order_id].destination)
        for line in lines.values()
        if line.qty_confirmed is not None
    )


def _locked_stock(ctx: Context, pairs: set[tuple[str, str]]) -> dict:
    """The balances `apply_plans` locked; any missing (a plan applied on its own) are locked now."""
    missing = pairs - set(ctx.stock)
    if missing:
        ctx.stock.update(lock_stock_at(missing))
    return ctx.stock


def _announced_line(line: ShipNoticeLine, moved: int, expected_on: date) -> dict[str, Any]:
    return {
        "asn_line_no": line.line_no,
        "po_line_no": line.po_line.line_no,
        "sku": line.sku,
        "qty": line.qty,
        "inbound_reference": line.inbound_reference,
        "moved_from_po_line": moved,
        "pack": line.pack or None,
        "expected_on": expected_on.isoformat(),
    }


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


def _notice_exists(supplier_id: int, number: str) -> bool:
    """Raw: planned once per notice, where the ORM's query building costs more than the read."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {raw_sql.table(ShipNotice)} WHERE supplier_id = %s AND number = %s", [supplier_id, number]
        )
        return cursor.fetchone() is not None


def plan_ship_notice(
    doc: ShipNoticeDoc, r: Resolver, problems: list[Problem], seen: dict[str, ShipNoticePlan]
) -> Plan | None:
    """Plan a ship notice. A shipment id already applied is a duplicate; one repeated by another set of
    the same interchange is the same shipment told in parts, so its lines join the first plan."""
    if _notice_exists(r.supplier.pk, doc.number):
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
