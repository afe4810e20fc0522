"""Every write to suppliers, purchase orders and receipts goes through here.

Each service is one transaction that takes its row locks first (purchase order, supplier, the stock
balances it will touch, in a fixed order), checks its rules and raises a domain error before
writing anything, then writes and appends its events last (appends serialise on the event store's
lock, see scm/events/store.py). Stock itself is only ever written through `inventory.services`.

Applying inbound documents (855, 856, 810, 846, 997 and their JSON/CSV twins) lives in
`suppliers.apply`; storing and processing raw messages in `suppliers.inbound`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django_fsm import can_proceed

from inventory import selectors as inventory_selectors
from inventory import services as inventory
from scm.errors import Conflict, ValidationFailed
from scm.events.store import NewEvent, append
from suppliers.adapters.x12 import Outbound850, Outbound850Line, build_850
from suppliers.exceptions import (
    ControlNumbersExhausted,
    DuplicatePurchaseOrder,
    PurchaseOrderNotFound,
    PurchaseOrderStateError,
    ReceiptRefused,
    SupplierNotFound,
    UnknownSupplier,
)
from suppliers.models import (
    PO,
    RECEIVABLE,
    X12_MAX_CONTROL,
    AckStatus,
    InboundMessage,
    OutboundKind,
    OutboundMessage,
    PurchaseOrder,
    PurchaseOrderLine,
    ShipNotice,
    ShipNoticeLine,
    Supplier,
    SupplierItem,
)

SUPPLIER_FIELDS = (
    "name",
    "active",
    "isa_qualifier",
    "isa_id",
    "gs_id",
    "edifact_id",
    "formats",
    "feed_url",
    "drop_folder",
    "poll_interval_seconds",
)
FORMATS = ("x12", "edifact", "json", "csv")


def supplier_stream(code: str) -> str:
    return f"supplier-{code}"


def _clean(instance, exclude: Sequence[str] = ()) -> None:
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        first_name, first_messages = next(iter(fields.items()))
        raise ValidationFailed(f"{first_name}: {first_messages[0]}", **fields) from None


# --- Master data ---------------------------------------------------------------------------------


def get_supplier(code: str, *, for_update: bool = False) -> Supplier:
    rows = Supplier.objects.select_for_update() if for_update else Supplier.objects
    try:
        return rows.get(code=code)
    except Supplier.DoesNotExist:
        raise SupplierNotFound(code) from None


@transaction.atomic
def supplier_upsert(*, code: str, **fields) -> Supplier:
    """Create or change a supplier; records SupplierDefined. The X12 sender id must be unique."""
    unknown = set(fields) - set(SUPPLIER_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown supplier fields: {', '.join(sorted(unknown))}.")
    if not code or code != code.strip():
        raise ValidationFailed("A supplier code must be non-blank without surrounding spaces.", code=code)
    formats = fields.get("formats")
    if formats is not None and (not isinstance(formats, list) or any(f not in FORMATS for f in formats)):
        raise ValidationFailed(f"formats must be a list of {', '.join(FORMATS)}.", formats=formats)
    for name in ("isa_id", "gs_id", "isa_qualifier", "edifact_id"):
        if isinstance(fields.get(name), str):
            fields[name] = fields[name].strip()
    supplier = Supplier.objects.select_for_update().filter(code=code).first() or Supplier(code=code)
    for name, value in fields.items():
        setattr(supplier, name, value)
    if not supplier.name:
        raise ValidationFailed("A supplier needs a name.", name="")
    if supplier.poll_interval_seconds < 10:
        raise ValidationFailed("poll_interval_seconds must be at least 10.", poll_interval_seconds=10)
    _clean(supplier)
    if supplier.isa_id:
        taken = Supplier.objects.filter(isa_id=supplier.isa_id).exclude(pk=supplier.pk).values_list("code", flat=True)
        if taken:
            raise Conflict(
                f"X12 id {supplier.isa_id!r} already belongs to supplier {taken[0]!r}.",
                isa_id=supplier.isa_id,
                supplier=taken[0],
            )
    try:
        with transaction.atomic():
            supplier.save()
    except IntegrityError as exc:
        raise Conflict(f"Supplier {code!r} conflicts with an existing one: {exc}", code=code) from None
    append(
        supplier_stream(code),
        [
            NewEvent(
                type="SupplierDefined", payload={"code": code, **{f: getattr(supplier, f) for f in SUPPLIER_FIELDS}}
            )
        ],
    )
    return supplier


@transaction.atomic
def supplier_delete(*, code: str) -> None:
    """Delete a supplier that never traded with us; one with orders or messages is deactivated instead."""
    supplier = get_supplier(code, for_update=True)
    if supplier.purchase_orders.exists() or supplier.messages.exists():
        raise Conflict(
            f"Supplier {code!r} has purchase orders or messages and cannot be deleted; set active=false instead.",
            supplier=code,
        )
    supplier.delete()


@transaction.atomic
def supplier_item_upsert(
    *, supplier: str, supplier_part: str, sku: str, pack_size: int = 1, lead_time_days: int = 7
) -> SupplierItem:
    """Map a supplier's part number to one of our SKUs (the SKU must exist)."""
    owner = get_supplier(supplier)
    supplier_part = (supplier_part or "").strip()
    if not supplier_part:
        raise ValidationFailed("supplier_part must not be blank.", supplier_part=supplier_part)
    inventory.get_item(sku)
    if isinstance(pack_size, bool) or not isinstance(pack_size, int) or pack_size < 1:
        raise ValidationFailed("pack_size must be a whole number of at least 1.", pack_size=pack_size)
    mapping = SupplierItem.objects.select_for_update().filter(
        supplier=owner, supplier_part=supplier_part
    ).first() or SupplierItem(supplier=owner, supplier_part=supplier_part)
    mapping.sku, mapping.pack_size, mapping.lead_time_days = sku, pack_size, lead_time_days
    _clean(mapping, exclude=["supplier"])
    mapping.save()
    return mapping


@transaction.atomic
def supplier_item_delete(*, item_id: int) -> None:
    SupplierItem.objects.filter(pk=item_id).delete()


# --- X12 control numbers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlNumbers:
    interchange: int
    group: int
    transaction_set: int


def allocate_control_numbers(*, supplier_id: int) -> ControlNumbers:
    """The next ISA13/GS06/ST02 for messages to this supplier; each strictly greater than the last.

    The supplier row is locked for the rest of the caller's transaction, so two concurrent senders
    never get the same number and a rolled-back send gives its numbers back.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("allocate_control_numbers must run inside the transaction that uses the numbers")
    supplier = Supplier.objects.select_for_update().get(pk=supplier_id)
    numbers = ControlNumbers(supplier.next_isa_control, supplier.next_gs_control, supplier.next_st_control)
    if max(numbers.interchange, numbers.group, numbers.transaction_set) > X12_MAX_CONTROL:
        raise ControlNumbersExhausted(
            f"Supplier {supplier.code} has used every X12 control number up to {X12_MAX_CONTROL}.",
            supplier=supplier.code,
        )
    Supplier.objects.filter(pk=supplier_id).update(
        next_isa_control=F("next_isa_control") + 1,
        next_gs_control=F("next_gs_control") + 1,
        next_st_control=F("next_st_control") + 1,
    )
    return numbers


def outbound_store(
    *,
    supplier: Supplier | None,
    kind: str,
    body: bytes,
    numbers: ControlNumbers,
    purchase_order: PurchaseOrder | None = None,
    inbound_message: InboundMessage | None = None,
) -> OutboundMessage:
    """Record an X12 message we produced, in the caller's transaction."""
    return OutboundMessage.objects.create(
        supplier=supplier,
        kind=kind,
        body=body,
        sha256=InboundMessage.checksum(body),
        isa_control=str(numbers.interchange),
        gs_control=str(numbers.group),
        st_control=str(numbers.transaction_set),
        purchase_order=purchase_order,
        inbound_message=inbound_message,
    )


def our_x12_identity() -> tuple[str, str]:
    return settings.SCM_X12_QUALIFIER, settings.SCM_X12_ID


# --- Purchase orders -----------------------------------------------------------------------------


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
    try:
        owner = Supplier.objects.get(code=supplier)
    except Supplier.DoesNotExist:
        raise UnknownSupplier(supplier) from None
    if not owner.active:
        raise ValidationFailed(f"Supplier {supplier!r} is inactive.", supplier=supplier)
    if PurchaseOrder.objects.filter(number=number).exists():
        raise DuplicatePurchaseOrder(number)
    inventory.get_location(destination)
    inputs = _line_inputs(lines)
    if not inputs:
        raise ValidationFailed("A purchase order needs at least one line.", lines=[])
    for line in inputs:
        inventory.get_item(line.sku)
    parts = dict(
        SupplierItem.objects.filter(supplier=owner, sku__in=[line.sku for line in inputs])
        .order_by("-id")
        .values_list("sku", "supplier_part")
    )
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
    append(
        order.stream,
        [
            NewEvent(
                type="PurchaseOrderCreated",
                payload={
                    "number": number,
                    "supplier": owner.code,
                    "destination": destination,
                    "source": source,
                    "requested_date": requested_date.isoformat() if requested_date else None,
                    "lines": [
                        {"line_no": i, "sku": line.sku, "qty": line.qty, "unit_price": str(line.unit_price)}
                        for i, line in enumerate(inputs, start=1)
                    ],
                },
            )
        ],
    )
    return order


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


def _locked_order(po_id: int) -> PurchaseOrder:
    order = PurchaseOrder.objects.select_for_update().select_related("supplier").filter(pk=po_id).first()
    if order is None:
        raise PurchaseOrderNotFound(po_id)
    return order


def _require(order: PurchaseOrder, transition, action: str) -> None:
    if not can_proceed(transition):
        raise PurchaseOrderStateError(number=order.number, status=order.status, action=action)


@transaction.atomic
def purchase_order_send(*, po_id: int, created_at: datetime | None = None) -> OutboundMessage:
    """Send a DRAFT order: build its X12 850 with the supplier's next control numbers, store it as an
    OutboundMessage, move the order to SENT and record PurchaseOrderSent (with the control numbers)."""
    order = _locked_order(po_id)
    _require(order, order.mark_sent, "sent")
    supplier = order.supplier
    if not supplier.isa_id:
        raise ValidationFailed(
            f"Supplier {supplier.code} has no X12 id (isa_id); an 850 cannot be addressed.", supplier=supplier.code
        )
    lines = list(order.lines.order_by("line_no"))
    numbers = allocate_control_numbers(supplier_id=supplier.pk)
    qualifier, our_id = our_x12_identity()
    stamp = created_at or timezone.now()
    body = build_850(
        Outbound850(
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
                for line in lines
            ],
        )
    )
    outbound = outbound_store(
        supplier=supplier, kind=OutboundKind.PO_850, body=body, numbers=numbers, purchase_order=order
    )
    order.mark_sent()
    order.save()
    append(
        order.stream,
        [
            NewEvent(
                type="PurchaseOrderSent",
                payload={
                    "number": order.number,
                    "supplier": supplier.code,
                    "outbound_message_id": outbound.pk,
                    "interchange_control": numbers.interchange,
                    "group_control": numbers.group,
                    "set_control": numbers.transaction_set,
                    "sha256": outbound.sha256,
                },
                occurred_at=stamp,
            )
        ],
    )
    return outbound


def open_shipments(lines: Iterable[PurchaseOrderLine]) -> dict[int, list[ShipNoticeLine]]:
    """Ship notice lines of these PO lines not yet received in full, oldest first, by PO line id (one query)."""
    found: dict[int, list[ShipNoticeLine]] = defaultdict(list)
    rows = (
        ShipNoticeLine.objects.filter(po_line__in=[line.pk for line in lines], qty_received__lt=F("qty"))
        .select_related("notice__supplier")
        .order_by("notice_id", "line_no")
    )
    for shipped in rows:
        found[shipped.po_line_id].append(shipped)
    return found


def open_inbound(
    order: PurchaseOrder,
    lines: Iterable[PurchaseOrderLine],
    shipments: dict[int, list[ShipNoticeLine]] | None = None,
) -> dict[str, int]:
    """Inbound supply still expected per reference: the PO lines' own, and their open ship notice lines'."""
    refs: dict[str, str] = {line.inbound_reference: line.sku for line in lines}
    for shipped_lines in (shipments or {}).values():
        refs.update({shipped.inbound_reference: shipped.sku for shipped in shipped_lines})
    found: dict[str, int] = {}
    for sku in sorted(set(refs.values())):
        for supply in inventory_selectors.inbound_for(sku=sku, location=order.destination).filter(
            reference__in=[ref for ref, of in refs.items() if of == sku]
        ):
            found[supply.reference] = supply.quantity
    return found


def _withdraw_inbound(order: PurchaseOrder, reason: str) -> list[dict]:
    """Stop expecting whatever is still inbound for the order (cancel/close)."""
    lines = list(order.lines.order_by("line_no"))
    shipments = open_shipments(lines)
    open_refs = open_inbound(order, lines, shipments)
    sku_of = {line.inbound_reference: line.sku for line in lines}
    for shipped_lines in shipments.values():
        sku_of.update({shipped.inbound_reference: shipped.sku for shipped in shipped_lines})
    lock_stock({sku_of[ref] for ref in open_refs}, order.destination)
    removed = []
    for ref, qty in sorted(open_refs.items()):
        if qty > 0:
            inventory.remove_inbound(sku=sku_of[ref], location=order.destination, reference=ref, reason=reason)
            removed.append({"reference": ref, "sku": sku_of[ref], "qty": qty})
    return removed


def lock_stock(skus: Iterable[str], location: str) -> None:
    """Lock the stock balances a multi-line operation will touch, in inventory's fixed order, before any
    of its appends (a balance lock taken after an append could deadlock with another appender)."""
    skus = sorted(set(skus))
    if not skus:
        return
    place = inventory.get_location(location)
    inventory.lock_balances([(inventory.get_item(sku), place) for sku in skus])


@transaction.atomic
def purchase_order_cancel(*, po_id: int, reason: str = "") -> PurchaseOrder:
    """Cancel an order that nothing was received for yet; its inbound supply is withdrawn."""
    order = _locked_order(po_id)
    _require(order, order.mark_cancelled, "cancelled")
    removed = _withdraw_inbound(order, reason="po_cancelled")
    order.mark_cancelled()
    order.save()
    append(
        order.stream,
        [
            NewEvent(
                type="PurchaseOrderCancelled",
                payload={"number": order.number, "reason": reason, "inbound_removed": removed},
            )
        ],
    )
    return order


@transaction.atomic
def purchase_order_close(*, po_id: int, reason: str = "") -> PurchaseOrder:
    """Close an order (fully received, or short-closed): whatever is still inbound is withdrawn."""
    order = _locked_order(po_id)
    _require(order, order.mark_closed, "closed")
    removed = _withdraw_inbound(order, reason="po_closed")
    order.mark_closed()
    order.save()
    append(
        order.stream,
        [
            NewEvent(
                type="PurchaseOrderClosed",
                payload={"number": order.number, "reason": reason, "inbound_removed": removed},
            )
        ],
    )
    return order


# --- Receiving -----------------------------------------------------------------------------------


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
    the ship notice lines named, then the PO line's own supply, then its other open ship notice lines."""
    _require(order, order.mark_partially_received, "received")
    lines = [receipt.line for receipt in receipts]
    shipments = open_shipments(lines)
    open_refs = open_inbound(order, lines, shipments)
    lock_stock([line.sku for line in lines], order.destination)
    done = []
    for receipt in receipts:
        line, remaining = receipt.line, receipt.qty
        # Units that arrive are most likely the ones announced as shipped: ASN supply first (the named
        # notice lines, then the line's other notices, oldest first), then the PO line's own supply.
        sources: list[tuple[str, ShipNoticeLine | None]] = [(s.inbound_reference, s) for s, _ in receipt.shipped]
        sources += [
            (s.inbound_reference, s)
            for s in shipments.get(line.pk, [])
            if s.inbound_reference not in {ref for ref, _ in sources}
        ]
        sources.append((line.inbound_reference, None))
        taken: list[dict] = []
        for ref, shipped in sources:
            available = open_refs.get(ref, 0)
            if remaining == 0 or available <= 0:
                continue
            qty = min(remaining, available)
            inventory.receive(
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
            inventory.receive(
                sku=line.sku, location=order.destination, qty=remaining, reference=reference, effective_at=effective_at
            )
            taken.append({"inbound_reference": None, "qty": remaining})
        line.qty_received += receipt.qty
        line.save(update_fields=["qty_received"])
        done.append(
            {
                "line_no": line.line_no,
                "sku": line.sku,
                "qty": receipt.qty,
                "qty_received_total": line.qty_received,
                "from_inbound": taken,
            }
        )
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


def _quantities(lines: dict[int, int] | None, what: str) -> dict[int, int] | None:
    if lines is None:
        return None
    for key, qty in lines.items():
        if isinstance(qty, bool) or not isinstance(qty, int) or qty < 1:
            raise ReceiptRefused(f"{what} {key}: quantity {qty!r} must be a whole number of at least 1.", line=key)
    return lines


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
    order = _locked_order(po_id)
    _require(order, order.mark_partially_received, "received")
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
    return _receive(
        order, receipts, reference=reference or f"PO-{order.number}", notice=None, effective_at=effective_at
    )


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
    orders = {pk: _locked_order(pk) for pk in order_ids}
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


def default_expected_date(*, lead_time_days: int = 7, today: date | None = None) -> date:
    return (today or timezone.localdate()) + timedelta(days=lead_time_days)


__all__ = [
    "RECEIVABLE",
    "PO",
    "allocate_control_numbers",
    "purchase_order_cancel",
    "purchase_order_close",
    "purchase_order_create",
    "purchase_order_create_draft",
    "purchase_order_receive",
    "purchase_order_send",
    "ship_notice_receive",
    "supplier_item_upsert",
    "supplier_upsert",
]
