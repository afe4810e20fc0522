"""Allocating an order's lines to stock (reservations), and filling backorders when stock arrives."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from inventory import selectors as stock_selectors
from inventory import services as inventory
from inventory.models import SELLABLE_KINDS
from orders.allocation import Candidate, LinePlan, plan_lines
from orders.models import Allocation, FulfillmentWorkflow, OrderLine, OrderStatus, SalesOrder, WorkflowStep
from orders.references import line_holder
from orders.services.common import (
    advance_workflow,
    lock_allocations,
    lock_lines,
    lock_order,
    lock_workflow,
    record_event,
    run_transition,
    schedule_workflow,
)
from scm.conflicts import retry_on_conflict


@dataclass(frozen=True)
class AllocationOutcome:
    order_id: int
    status: str
    reserved_now: int
    backordered: int
    changed: bool


def _stock_snapshot(skus: list[str]) -> dict[str, list[Candidate]]:
    items = list(stock_selectors.get_items(sorted(set(skus))).values())
    locked = inventory.lock_balances_for_skus(items)
    sku_by_id = {item.pk: item.sku for item in items}
    stock: dict[str, list[Candidate]] = {}
    for (item_id, _), balance in locked.items():
        place = balance.location
        if place.kind in SELLABLE_KINDS and place.active:
            stock.setdefault(sku_by_id[item_id], []).append(
                Candidate(place.code, balance.available, place.allocation_rank)
            )
    return stock


def _expected_supply(order: SalesOrder, line: OrderLine, short: int) -> dict:
    """Which inbound supply should cover a backordered quantity, after orders ahead in the queue."""
    ahead = sum(
        other.ordered - other.reserved - other.shipped - other.cancelled
        for other in OrderLine.objects.filter(
            sku=line.sku,
            order__status__in=[OrderStatus.BACKORDERED, OrderStatus.CREATED],
            ordered__gt=F("reserved") + F("shipped") + F("cancelled"),
        )
        .exclude(order=order)
        .select_related("order")
        if (other.order.priority, other.order.created_at, other.order_id) < (order.priority, order.created_at, order.pk)
    )
    covering, needed, skip = [], short, ahead
    for supply in stock_selectors.inbound_for(sku=line.sku):
        if supply.location.kind not in SELLABLE_KINDS:
            continue
        usable = supply.quantity
        if skip:
            taken_by_others = min(skip, usable)
            skip -= taken_by_others
            usable -= taken_by_others
        if usable <= 0:
            continue
        use = min(usable, needed)
        covering.append(
            {
                "reference": supply.reference,
                "location": supply.location.code,
                "expected_date": supply.expected_date.isoformat(),
                "qty": use,
            }
        )
        needed -= use
        if needed == 0:
            break
    return {
        "queued_ahead": ahead,
        "covered_by": covering,
        "promise_date": covering[-1]["expected_date"] if covering and needed == 0 else None,
        "uncovered": needed,
    }


@retry_on_conflict
@transaction.atomic
def order_allocate(*, order_id: int) -> AllocationOutcome:
    """Reserve what can be reserved for the order's open lines and explain every decision.

    Moves the order to RESERVED when every line is covered, BACKORDERED otherwise. Running it
    again when nothing changed writes nothing (idempotent). Locks the order, its lines, allocations
    and workflow, then the SKUs' balances, before `stock_reserve_many` appends the first stock event.
    """
    order = lock_order(order_id)
    allocatable = (OrderStatus.CREATED, OrderStatus.BACKORDERED, OrderStatus.RESERVED)
    if order.status not in allocatable:
        return AllocationOutcome(order.pk, order.status, 0, 0, False)
    lines = lock_lines(order)
    allocations = {(a.line_id, a.location): a for a in lock_allocations(order)}
    workflow = lock_workflow(order)
    needing = [line for line in lines if line.backordered > 0]
    plans: list[LinePlan] = []
    if needing:
        stock = _stock_snapshot([line.sku for line in needing])
        plans = plan_lines([(line.pk, line.line_no, line.sku, line.backordered) for line in needing], stock)
        _count_reserved(lines, allocations, plans)
    reserved_now = sum(plan.reserved for plan in plans)
    backordered = sum(line.backordered for line in lines)
    status_before = order.status
    if reserved_now == 0 and (
        (backordered == 0 and status_before == OrderStatus.RESERVED)
        or (backordered > 0 and status_before == OrderStatus.BACKORDERED)
    ):
        return AllocationOutcome(order.pk, order.status, 0, backordered, False)
    run_transition(order, "mark_reserved" if backordered == 0 else "mark_backordered")
    order.save()
    if workflow is not None and backordered == 0 and workflow.step in (WorkflowStep.RESERVE, WorkflowStep.AWAIT_STOCK):
        advance_workflow(workflow, WorkflowStep.PLAN_SHIPMENT)
        schedule_workflow(order.pk)
    elif workflow is not None and backordered and workflow.step == WorkflowStep.RESERVE:
        advance_workflow(workflow, WorkflowStep.AWAIT_STOCK)
    # Appends last: the first one takes the event log's append lock, held until commit, so every
    # write of this order is done before it (docs/PERFORMANCE.md, "Flow").
    _reserve_stock(order, plans)
    record_event(
        order,
        "OrderReserved" if backordered == 0 else "OrderBackordered",
        {"previous_status": status_before, "lines": _explained(order, lines, plans), "backordered_units": backordered},
    )
    return AllocationOutcome(order.pk, order.status, reserved_now, backordered, True)


def _count_reserved(
    lines: list[OrderLine], allocations: dict[tuple[int, str], Allocation], plans: list[LinePlan]
) -> None:
    """Count the plans' units on the (locked) lines and allocations, in one statement per kind of
    write; the stock is reserved after."""
    by_id = {line.pk: line for line in lines}
    changed_lines: dict[int, OrderLine] = {}
    changed: dict[tuple[int, str], Allocation] = {}
    for plan in plans:
        line = by_id[plan.line_id]
        if plan.reserved:
            line.reserved += plan.reserved
            changed_lines[line.pk] = line
        for location, quantity in plan.take.items():
            key = (line.pk, location)
            allocation = allocations.get(key) or changed.get(key) or Allocation(line=line, location=location)
            allocation.reserved += quantity
            changed[key] = allocation
    if changed_lines:
        OrderLine.objects.bulk_update(list(changed_lines.values()), ["reserved"])
    existing = [allocation for allocation in changed.values() if allocation.pk]
    if existing:
        Allocation.objects.bulk_update(existing, ["reserved"])
    new = [allocation for allocation in changed.values() if not allocation.pk]
    if new:
        Allocation.objects.bulk_create(new)


def _reserve_stock(order: SalesOrder, plans: list[LinePlan]) -> None:
    """Reserve the plans' units on the (locked) balances; appends the stock events."""
    requests = [
        inventory.ReservationRequest(plan.sku, location, quantity, line_holder(order.pk, plan.line_id))
        for plan in plans
        for location, quantity in plan.take.items()
    ]
    if requests:
        inventory.stock_reserve_many(requests=requests, reference=order.stream)


def _explained(order: SalesOrder, lines: list[OrderLine], plans: list[LinePlan]) -> list[dict]:
    """Every decision of this allocation, for the event: candidates, the rule, and expected supply for what is short."""
    by_id = {line.pk: line for line in lines}
    explained = []
    for plan in plans:
        entry = {
            "line_no": plan.line_no,
            "sku": plan.sku,
            "needed": plan.needed,
            "reserved": plan.reserved,
            "allocations": [{"location": loc, "qty": qty} for loc, qty in plan.take.items()],
            "rule": plan.rule,
            "candidates": plan.candidates,
            "backordered": plan.short,
        }
        if plan.short:
            entry["expected_supply"] = _expected_supply(order, by_id[plan.line_id], plan.short)
        explained.append(entry)
    return explained


def _lock_waiting(order_ids: list[int]) -> None:
    """Everything allocating these orders will lock, taken at once and in the global order: the
    orders (id order), their lines, allocations and workflows, then every balance of their open SKUs."""
    if not order_ids:
        return
    list(SalesOrder.objects.select_for_update().filter(pk__in=order_ids).order_by("pk").values_list("pk"))
    lines = list(OrderLine.objects.select_for_update().filter(order_id__in=order_ids).order_by("order_id", "line_no"))
    list(
        Allocation.objects.select_for_update(of=("self",))
        .filter(line__order_id__in=order_ids)
        .order_by("line__order_id", "pk")
        .values_list("pk")
    )
    list(
        FulfillmentWorkflow.objects.select_for_update()
        .filter(order_id__in=order_ids)
        .order_by("order_id")
        .values_list("pk")
    )
    skus = sorted({line.sku for line in lines if line.backordered > 0})
    inventory.lock_balances_for_skus(list(stock_selectors.get_items(skus).values()))


@retry_on_conflict
@transaction.atomic
def backorders_fill(*, sku: str, limit: int = 200) -> list[AllocationOutcome]:
    """Stock of `sku` became available: reserve waiting backorders by priority, then age.

    One transaction for the batch: every order it may allocate is locked first (with its lines,
    allocations, workflow and the balances it needs), so no allocation takes a lock after another
    appended. Stops when an order could not get everything it waits for, since the orders after it
    in the queue cannot get more."""
    waiting = list(
        dict.fromkeys(
            SalesOrder.objects.filter(
                status=OrderStatus.BACKORDERED,
                lines__sku=sku,
                lines__ordered__gt=F("lines__reserved") + F("lines__shipped") + F("lines__cancelled"),
            )
            .order_by("priority", "created_at", "id")
            .values_list("id", flat=True)
            .distinct()[:limit]
        )
    )
    _lock_waiting(sorted(waiting))
    outcomes = []
    for order_id in waiting:
        outcome = order_allocate(order_id=order_id)
        outcomes.append(outcome)
        line = OrderLine.objects.get(order_id=order_id, sku=sku)
        if line.backordered > 0:
            break
    return outcomes
