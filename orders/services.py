"""Every write to orders goes through here.

Lock order inside a transaction: the order row first (select_for_update), then inventory balances
(inventory services lock them in their fixed order), then events are appended last.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from inventory import selectors as stock_selectors
from inventory import services as inventory
from inventory.models import SELLABLE_KINDS
from orders.allocation import Candidate, LinePlan, plan_lines
from orders.exceptions import (
    DuplicateExternalId,
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidOrder,
    OrderNotFound,
    UnknownCustomer,
)
from orders.models import (
    Allocation,
    Customer,
    FulfillmentWorkflow,
    OrderLine,
    OrderShipment,
    OrderStatus,
    SalesOrder,
    WorkflowStep,
)
from orders.references import line_holder, line_id_from_holder, order_id_from_ref
from scm.errors import ValidationFailed
from scm.events.store import NewEvent, append
from scm.master_data import master_data_upsert
from scm.observability import metrics


@dataclass(frozen=True)
class LineInput:
    sku: str
    qty: int


# --- Helpers ----------------------------------------------------------------------------------


def _record(order: SalesOrder, event_type: str, payload: dict) -> None:
    append(order.stream, [NewEvent(type=event_type, payload={"order_id": order.pk, **payload})])


def _locked_order(order_id: int) -> SalesOrder:
    order = SalesOrder.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(order_id)
    return order


def _transition(order: SalesOrder, method: str, *args) -> None:
    try:
        getattr(order, method)(*args)
    except TransitionNotAllowed:
        raise IllegalTransition(order.pk, order.status, method.removeprefix("mark_")) from None


def _schedule_workflow(order_id: int) -> None:
    """After commit, hand the order's next workflow step to a worker (the sweeper is the safety net)."""
    if not settings.ORDER_WORKFLOW_AUTORUN:
        return
    from orders.tasks import run_fulfillment_step

    transaction.on_commit(partial(run_fulfillment_step.delay, order_id))


def request_hash(**request) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


# --- Customers --------------------------------------------------------------------------------


@transaction.atomic
def customer_upsert(*, code: str, name: str, active: bool = True) -> Customer:
    """Create or change a customer; records CustomerDefined."""
    return master_data_upsert(
        Customer,
        key_field="code",
        key=code,
        fields={"name": name, "active": active},
        allowed=("name", "active"),
        event_type="CustomerDefined",
        stream=f"customer-{code}",
    )


# --- Creation ---------------------------------------------------------------------------------


def _validated_lines(lines: Sequence[LineInput | dict]) -> list[LineInput]:
    if not lines:
        raise InvalidOrder("An order needs at least one line.", lines=[])
    parsed: list[LineInput] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(lines, start=1):
        line = raw if isinstance(raw, LineInput) else LineInput(sku=raw.get("sku"), qty=raw.get("qty"))
        if not isinstance(line.sku, str) or not line.sku:
            raise InvalidOrder(f"Line {index} has no SKU.", line=index)
        if isinstance(line.qty, bool) or not isinstance(line.qty, int) or line.qty <= 0:
            raise InvalidOrder(f"Line {index}: quantity {line.qty!r} must be a whole number above zero.", line=index)
        if line.sku in seen:
            raise InvalidOrder(
                f"SKU {line.sku!r} appears on lines {seen[line.sku]} and {index}; put it on one line.",
                sku=line.sku,
                lines=[seen[line.sku], index],
            )
        seen[line.sku] = index
        parsed.append(line)
    stock_selectors.get_items(line.sku for line in parsed)
    return parsed


def order_create(
    *,
    customer: str,
    external_id: str,
    lines: Sequence[LineInput | dict],
    priority: int = 5,
    requested_date: date | None = None,
    ship_to: str = "",
    idempotency_key: str | None = None,
    start_workflow: bool = True,
) -> tuple[SalesOrder, bool]:
    """Create an order and start its fulfillment; returns (order, created).

    Duplicate SKUs on one order are refused (one line per SKU). With an idempotency key, a repeat
    of the same request returns the first order (created=False) and a different request under the
    same key raises IdempotencyKeyReused — also when the repeats arrive concurrently, because the
    key is UNIQUE in the database.
    """
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidOrder("An order needs an external_id.", external_id=external_id)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 9:
        raise InvalidOrder("Priority must be a whole number from 1 (most urgent) to 9.", priority=priority)
    parsed = _validated_lines(lines)
    buyer = Customer.objects.filter(code=customer, active=True).first()
    if buyer is None:
        raise UnknownCustomer(customer)
    fingerprint = request_hash(
        customer=customer,
        external_id=external_id,
        priority=priority,
        requested_date=requested_date,
        ship_to=ship_to,
        lines=[(line.sku, line.qty) for line in parsed],
    )
    if idempotency_key:
        existing = SalesOrder.objects.filter(customer=buyer, idempotency_key=idempotency_key).first()
        if existing:
            return _replay(existing, idempotency_key, fingerprint), False
    try:
        with transaction.atomic():
            order = SalesOrder.objects.create(
                customer=buyer,
                external_id=external_id,
                priority=priority,
                requested_date=requested_date,
                ship_to=ship_to,
                idempotency_key=idempotency_key or None,
                request_hash=fingerprint,
            )
            OrderLine.objects.bulk_create(
                [
                    OrderLine(order=order, line_no=number, sku=line.sku, ordered=line.qty)
                    for number, line in enumerate(parsed, start=1)
                ]
            )
            FulfillmentWorkflow.objects.create(order=order, next_attempt_at=timezone.now())
            _record(
                order,
                "OrderCreated",
                {
                    "customer": customer,
                    "external_id": external_id,
                    "priority": priority,
                    "requested_date": requested_date.isoformat() if requested_date else None,
                    "ship_to": ship_to,
                    "lines": [{"line_no": n, "sku": line.sku, "qty": line.qty} for n, line in enumerate(parsed, 1)],
                },
            )
            metrics.inc_on_commit(metrics.orders_created)
            if start_workflow:
                _schedule_workflow(order.pk)
    except IntegrityError:
        if idempotency_key:
            existing = SalesOrder.objects.filter(customer=buyer, idempotency_key=idempotency_key).first()
            if existing:
                return _replay(existing, idempotency_key, fingerprint), False
        existing = SalesOrder.objects.filter(customer=buyer, external_id=external_id).first()
        if existing:
            raise DuplicateExternalId(customer, external_id, existing.pk) from None
        raise
    return order, True


def _replay(order: SalesOrder, key: str, fingerprint: str) -> SalesOrder:
    if order.request_hash != fingerprint:
        raise IdempotencyKeyReused(key, order.pk)
    return order


# --- Allocation -------------------------------------------------------------------------------


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


@transaction.atomic
def order_allocate(*, order_id: int) -> AllocationOutcome:
    """Reserve what can be reserved for the order's open lines and explain every decision.

    Moves the order to RESERVED when every line is covered, BACKORDERED otherwise. Running it
    again when nothing changed writes nothing (idempotent).
    """
    order = _locked_order(order_id)
    allocatable = (OrderStatus.CREATED, OrderStatus.BACKORDERED, OrderStatus.RESERVED)
    if order.status not in allocatable:
        return AllocationOutcome(order.pk, order.status, 0, 0, False)
    lines = list(order.lines.all())
    needing = [line for line in lines if line.backordered > 0]
    plans: list[LinePlan] = []
    if needing:
        stock = _stock_snapshot([line.sku for line in needing])
        plans = plan_lines([(line.pk, line.line_no, line.sku, line.backordered) for line in needing], stock)
        requests = [
            inventory.ReservationRequest(plan.sku, location, quantity, line_holder(order.pk, plan.line_id))
            for plan in plans
            for location, quantity in plan.take.items()
        ]
        inventory.reserve_many(requests=requests, reference=order.stream)
        by_id = {line.pk: line for line in lines}
        for plan in plans:
            line = by_id[plan.line_id]
            line.reserved += plan.reserved
            if plan.reserved:
                line.save(update_fields=["reserved"])
            for location, quantity in plan.take.items():
                allocation, _ = Allocation.objects.get_or_create(line=line, location=location)
                allocation.reserved += quantity
                allocation.save(update_fields=["reserved"])
    reserved_now = sum(plan.reserved for plan in plans)
    backordered = sum(line.backordered for line in lines)
    target = "mark_reserved" if backordered == 0 else "mark_backordered"
    status_before = order.status
    if reserved_now == 0 and (
        (backordered == 0 and status_before == OrderStatus.RESERVED)
        or (backordered > 0 and status_before == OrderStatus.BACKORDERED)
    ):
        return AllocationOutcome(order.pk, order.status, 0, backordered, False)
    _transition(order, target)
    order.save()
    explained = []
    for plan in plans:
        line = next(line for line in lines if line.pk == plan.line_id)
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
            entry["expected_supply"] = _expected_supply(order, line, plan.short)
        explained.append(entry)
    _record(
        order,
        "OrderReserved" if backordered == 0 else "OrderBackordered",
        {"previous_status": status_before, "lines": explained, "backordered_units": backordered},
    )
    workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
    if backordered == 0 and workflow.step in (WorkflowStep.RESERVE, WorkflowStep.AWAIT_STOCK):
        _advance(workflow, WorkflowStep.PLAN_SHIPMENT)
        _schedule_workflow(order.pk)
    elif backordered and workflow.step == WorkflowStep.RESERVE:
        _advance(workflow, WorkflowStep.AWAIT_STOCK)
    return AllocationOutcome(order.pk, order.status, reserved_now, backordered, True)


def _advance(workflow: FulfillmentWorkflow, step: str) -> None:
    workflow.step = step
    workflow.attempts = 0
    workflow.last_error = ""
    workflow.lease_until = None
    workflow.next_attempt_at = timezone.now()
    workflow.save()


def fill_backorders(*, sku: str, limit: int = 200) -> list[AllocationOutcome]:
    """Stock of `sku` became available: reserve waiting backorders by priority, then age.

    Each order is allocated in its own (nested) transaction; stops when an order could not get
    everything it waits for, since the orders after it in the queue cannot get more."""
    waiting = (
        SalesOrder.objects.filter(
            status=OrderStatus.BACKORDERED,
            lines__sku=sku,
            lines__ordered__gt=F("lines__reserved") + F("lines__shipped") + F("lines__cancelled"),
        )
        .order_by("priority", "created_at", "id")
        .values_list("id", flat=True)
        .distinct()[:limit]
    )
    outcomes = []
    for order_id in list(dict.fromkeys(waiting)):
        outcome = order_allocate(order_id=order_id)
        outcomes.append(outcome)
        line = OrderLine.objects.get(order_id=order_id, sku=sku)
        if line.backordered > 0:
            break
    return outcomes


# --- Cancellation, failure, retry -------------------------------------------------------------


def _release_all(order: SalesOrder, reason: str) -> list[dict]:
    released = []
    for line in order.lines.all():
        for allocation in line.allocations.filter(reserved__gt=0):
            inventory.release(
                sku=line.sku, location=allocation.location, holder=line_holder(order.pk, line.pk), reason=reason
            )
            released.append(
                {"line_no": line.line_no, "sku": line.sku, "location": allocation.location, "qty": allocation.reserved}
            )
            allocation.reserved = 0
            allocation.planned = 0
            allocation.save(update_fields=["reserved", "planned"])
        if line.reserved:
            line.reserved = 0
            line.save(update_fields=["reserved"])
    return released


@transaction.atomic
def order_cancel(*, order_id: int, reason: str, actor: str = "") -> SalesOrder:
    """Cancel what has not shipped: release every reservation and record why.

    A fulfilled (or already cancelled) order is refused. Shipped quantities stay shipped; the
    rest of each line is cancelled. Planned shipments not yet departed are cancelled too.
    """
    if not reason or not str(reason).strip():
        raise ValidationFailed("A cancellation needs a reason.", reason=reason)
    order = _locked_order(order_id)
    if order.status in (OrderStatus.FULFILLED, OrderStatus.CANCELLED):
        raise IllegalTransition(order.pk, order.status, "cancel")
    released = _release_all(order, reason="order cancelled")
    for line in order.lines.all():
        line.cancelled = line.ordered - line.shipped
        line.save(update_fields=["cancelled"])
    status_before = order.status
    _transition(order, "mark_cancelled", reason)
    order.save()
    _record(
        order,
        "OrderCancelled",
        {"previous_status": status_before, "reason": reason, "actor": actor, "released": released},
    )
    FulfillmentWorkflow.objects.filter(order=order).update(
        step=WorkflowStep.CANCELLED, lease_until=None, next_attempt_at=None
    )
    planned = list(
        order.shipments.filter(departed=False).exclude(status="CANCELLED").values_list("shipment_id", flat=True)
    )
    if planned:
        from shipments import services as shipment_services

        for shipment_id in planned:
            shipment_services.shipment_cancel(shipment_id=shipment_id, reason=f"order cancelled: {reason}")
    return order


@transaction.atomic
def order_fail(*, order_id: int, reason: str, step: str, attempts: int, to_backorder: bool = False) -> SalesOrder:
    """Compensation when the workflow gives up: release the reservations and record why."""
    order = _locked_order(order_id)
    released = _release_all(order, reason="fulfillment failed")
    status_before = order.status
    if to_backorder:
        _transition(order, "mark_backordered")
    else:
        _transition(order, "mark_failed", reason)
    order.save()
    _record(
        order,
        "OrderFailed",
        {
            "previous_status": status_before,
            "reason": reason,
            "step": step,
            "attempts": attempts,
            "released": released,
            "now": order.status,
        },
    )
    workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
    workflow.step = WorkflowStep.AWAIT_STOCK if to_backorder else WorkflowStep.FAILED
    workflow.last_error = reason
    workflow.lease_until = None
    workflow.next_attempt_at = None
    workflow.save()
    return order


@transaction.atomic
def order_retry(*, order_id: int, actor: str = "") -> SalesOrder:
    """Ops retry a FAILED order: back to CREATED, a fresh workflow generation, started again."""
    order = _locked_order(order_id)
    _transition(order, "mark_retried")
    order.save()
    workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
    workflow.generation += 1
    _advance(workflow, WorkflowStep.RESERVE)
    _record(order, "OrderRetried", {"actor": actor, "generation": workflow.generation})
    _schedule_workflow(order.pk)
    return order


# --- Shipments as orders see them (fed by shipment events) ------------------------------------


def _order_from_ref(order_ref: str) -> SalesOrder | None:
    order_id = order_id_from_ref(order_ref)
    if order_id is None:
        return None
    return SalesOrder.objects.select_for_update().filter(pk=order_id).first()


def _line_for(order: SalesOrder, holder: str) -> OrderLine:
    return OrderLine.objects.get(order=order, pk=line_id_from_holder(holder))


@transaction.atomic
def shipment_planned(*, order_ref: str, shipment_id: int, from_location: str, lines: list[dict]) -> None:
    """Remember a planned shipment and count its units as planned (idempotent per shipment)."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    _, created = OrderShipment.objects.get_or_create(
        order=order, shipment_id=shipment_id, defaults={"from_location": from_location, "lines": lines}
    )
    if not created:
        return
    for entry in lines:
        line = _line_for(order, entry["holder"])
        Allocation.objects.filter(line=line, location=entry["location"]).update(planned=F("planned") + entry["qty"])


@transaction.atomic
def shipment_departed(*, order_ref: str, shipment_id: int, lines: list[dict]) -> None:
    """Shipped units leave reserved; the order is at least partially fulfilled."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    record, _ = OrderShipment.objects.get_or_create(
        order=order,
        shipment_id=shipment_id,
        defaults={"from_location": lines[0]["location"] if lines else "", "lines": lines},
    )
    if record.departed:
        return
    record.departed, record.status = True, "DEPARTED"
    record.save(update_fields=["departed", "status"])
    shipped = []
    for entry in lines:
        line = _line_for(order, entry["holder"])
        line.reserved -= entry["qty"]
        line.shipped += entry["qty"]
        line.save(update_fields=["reserved", "shipped"])
        Allocation.objects.filter(line=line, location=entry["location"]).update(
            reserved=F("reserved") - entry["qty"],
            planned=F("planned") - entry["qty"],
            shipped=F("shipped") + entry["qty"],
        )
        shipped.append({"line_no": line.line_no, "sku": line.sku, "qty": entry["qty"], "location": entry["location"]})
    if order.status == OrderStatus.CANCELLED:
        return
    status_before = order.status
    _transition(order, "mark_partially_fulfilled")
    order.save()
    totals = list(order.lines.values("line_no", "sku", "ordered", "shipped", "delivered"))
    _record(
        order,
        "OrderPartiallyFulfilled",
        {"previous_status": status_before, "shipment_id": shipment_id, "shipped": shipped, "lines": totals},
    )
    if all(line["shipped"] >= line["ordered"] for line in totals):
        FulfillmentWorkflow.objects.filter(order=order).update(step=WorkflowStep.AWAIT_DELIVERY)


@transaction.atomic
def shipment_delivered(*, order_ref: str, shipment_id: int, lines: list[dict]) -> None:
    """Delivered units count toward fulfilment; the last delivery fulfils the order."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    record = OrderShipment.objects.filter(order=order, shipment_id=shipment_id).first()
    if record is None or record.delivered:
        return
    record.delivered, record.status = True, "DELIVERED"
    record.save(update_fields=["delivered", "status"])
    for entry in lines:
        OrderLine.objects.filter(pk=_line_for(order, entry["holder"]).pk).update(
            delivered=F("delivered") + entry["qty"]
        )
    lines_now = list(order.lines.all())
    if all(line.delivered >= line.ordered - line.cancelled for line in lines_now) and order.status in (
        OrderStatus.PARTIALLY_FULFILLED,
        OrderStatus.RESERVED,
    ):
        status_before = order.status
        _transition(order, "mark_fulfilled")
        order.save()
        _record(
            order,
            "OrderFulfilled",
            {
                "previous_status": status_before,
                "shipment_id": shipment_id,
                "lines": [{"line_no": li.line_no, "sku": li.sku, "delivered": li.delivered} for li in lines_now],
            },
        )
        FulfillmentWorkflow.objects.filter(order=order).update(step=WorkflowStep.DONE, next_attempt_at=None)


@transaction.atomic
def shipment_cancelled(*, order_ref: str, shipment_id: int, lines: list[dict]) -> None:
    """A planned shipment was cancelled: its units are reserved but unplanned again; plan anew."""
    order = _order_from_ref(order_ref)
    if order is None:
        return
    record = OrderShipment.objects.filter(order=order, shipment_id=shipment_id).first()
    if record is None or record.status == "CANCELLED" or record.departed:
        return
    record.status = "CANCELLED"
    record.save(update_fields=["status"])
    for entry in lines:
        line = _line_for(order, entry["holder"])
        Allocation.objects.filter(line=line, location=entry["location"], planned__gte=entry["qty"]).update(
            planned=F("planned") - entry["qty"]
        )
    if order.status in (OrderStatus.RESERVED, OrderStatus.PARTIALLY_FULFILLED):
        workflow = FulfillmentWorkflow.objects.select_for_update().get(order=order)
        _advance(workflow, WorkflowStep.PLAN_SHIPMENT)
        _schedule_workflow(order.pk)
