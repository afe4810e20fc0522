"""Creating an order: validated lines, idempotent per (customer, idempotency key), unique external id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory import selectors as stock_selectors
from orders.exceptions import DuplicateExternalId, IdempotencyKeyReused, InvalidOrder, UnknownCustomer
from orders.models import Customer, FulfillmentWorkflow, OrderLine, SalesOrder
from orders.services.common import record_event, schedule_workflow
from scm.conflicts import retry_on_conflict
from scm.observability import metrics


@dataclass(frozen=True)
class LineInput:
    sku: str
    qty: int


def request_hash(**request) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def _check_order_fields(external_id: object, priority: object) -> None:
    if not isinstance(external_id, str) or not external_id.strip():
        raise InvalidOrder("An order needs an external_id.", external_id=external_id)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 9:
        raise InvalidOrder("Priority must be a whole number from 1 (most urgent) to 9.", priority=priority)


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


@retry_on_conflict
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
    _check_order_fields(external_id, priority)
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
    fields = {
        "external_id": external_id,
        "priority": priority,
        "requested_date": requested_date,
        "ship_to": ship_to,
        "idempotency_key": idempotency_key or None,
        "request_hash": fingerprint,
    }
    try:
        with transaction.atomic():
            order = _insert(buyer, fields, parsed)
            if start_workflow:
                schedule_workflow(order.pk)
    except IntegrityError:
        # A concurrent twin committed first: the same request under the key (replay it), or the
        # same external id (a duplicate).
        if idempotency_key:
            existing = SalesOrder.objects.filter(customer=buyer, idempotency_key=idempotency_key).first()
            if existing:
                return _replay(existing, idempotency_key, fingerprint), False
        existing = SalesOrder.objects.filter(customer=buyer, external_id=external_id).first()
        if existing:
            raise DuplicateExternalId(customer, external_id, existing.pk) from None
        raise
    return order, True


def _insert(buyer: Customer, fields: dict, lines: list[LineInput]) -> SalesOrder:
    """The order, its lines, its workflow and OrderCreated, in the caller's transaction."""
    order = SalesOrder.objects.create(customer=buyer, **fields)
    OrderLine.objects.bulk_create(
        [OrderLine(order=order, line_no=number, sku=line.sku, ordered=line.qty) for number, line in enumerate(lines, 1)]
    )
    FulfillmentWorkflow.objects.create(order=order, next_attempt_at=timezone.now())
    requested_date = fields["requested_date"]
    record_event(
        order,
        "OrderCreated",
        {
            "customer": buyer.code,
            "external_id": fields["external_id"],
            "priority": fields["priority"],
            "requested_date": requested_date.isoformat() if requested_date else None,
            "ship_to": fields["ship_to"],
            "lines": [{"line_no": n, "sku": line.sku, "qty": line.qty} for n, line in enumerate(lines, 1)],
        },
    )
    metrics.inc_on_commit(metrics.orders_created)
    return order


def _replay(order: SalesOrder, key: str, fingerprint: str) -> SalesOrder:
    if order.request_hash != fingerprint:
        raise IdempotencyKeyReused(key, order.pk)
    return order
