"""Mappers: one transaction set in, one canonical dataclass out. Pure functions, no database, no rules.

Each mapper reads the segments it knows and ignores the rest (PO4, PKG, ITD, SAC, ... carry nothing the
services use yet). What it reads, it reads strictly: a value that does not parse raises
:class:`X12Error` naming the element, the value and what was expected, and the error names the
transaction set and group it came from, so the pipeline can quarantine and a 997 can point at it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from suppliers.adapters.x12.documents import (
    AckLine,
    AdviceError,
    AdviceItem,
    ApplicationAdvice824,
    ElementNote,
    FunctionalAck997,
    HierarchyLevel,
    InventoryAdvice846,
    InventoryItem,
    InventoryQuantity,
    Invoice810,
    InvoiceCharge,
    InvoiceLine,
    LineAck,
    LineSchedule,
    Mark,
    Party,
    PurchaseOrder850,
    PurchaseOrderAck855,
    PurchaseOrderLine,
    SegmentNote,
    SetAck,
    ShipItem,
    ShipNotice856,
    ShipOrder,
    ShipPack,
)
from suppliers.adapters.x12.errors import X12Error
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import (
    ccyymmdd,
    hhmm,
    implied_decimal,
    integer,
    number,
    qualified_ids,
    required,
    required_date,
    required_number,
    text,
)

T = TypeVar("T")


def _maps(code: str) -> Callable[[Callable[[TransactionSet], T]], Callable[[TransactionSet], T]]:
    """Check ST01 before mapping, and stamp every error with the set and group it came from."""

    def decorate(mapper: Callable[[TransactionSet], T]) -> Callable[[TransactionSet], T]:
        @functools.wraps(mapper)
        def wrapper(tset: TransactionSet) -> T:
            try:
                if tset.code != code:
                    raise tset.st.error(
                        f"set {tset.control_number} is a {tset.code}, not a {code}", 1, reason="wrong_set"
                    )
                return mapper(tset)
            except X12Error as error:
                raise error.in_set(group_control=tset.group_control, set_control=tset.control_number) from None

        return wrapper

    return decorate


def _missing(tset: TransactionSet, tag: str, what: str) -> X12Error:
    return X12Error(
        f"set {tset.control_number} has no {tag} segment ({what})",
        segment=tag,
        position=tset.st.offset,
        reason="missing",
    )


def _only_one(seen: Segment | None, segment: Segment) -> Segment:
    if seen is not None:
        raise segment.error(
            f"{segment.tag} at byte {segment.offset} repeats the {segment.tag} at byte {seen.offset}",
            reason="invalid_value",
        )
    return segment


def _dtm(segment: Segment) -> tuple[str, date] | None:
    """DTM01 qualifier with DTM02 (CCYYMMDD), or DTM05/06 in ``D8``/``RD8`` form (a range keeps its start)."""
    qualifier = required(segment, 1, "a date/time qualifier")
    when = ccyymmdd(segment, 2)
    if when is None and segment.get(5) in ("D8", "RD8") and segment.get(6):
        when = ccyymmdd(segment, 6, value=segment.get(6).split("-", 1)[0])
    return (qualifier, when) if when is not None else None


def _add_date(dates: dict[str, date], segment: Segment) -> None:
    found = _dtm(segment)
    if found is not None:
        dates.setdefault(*found)


def _add_ref(references: dict[str, str], segment: Segment) -> None:
    qualifier = text(segment, 1, required=True, what="a reference qualifier")
    value = segment.get(2) or segment.get(3)
    if qualifier and value:
        references.setdefault(qualifier, value)


def _description(current: str | None, segment: Segment) -> str | None:
    """PID05 free-form description; the first one of a line wins."""
    return current if current is not None else text(segment, 5)


@dataclass
class _Parties:
    """Collects N1 loops (N1 name, N2 extra name, N3 address, N4 city/state/zip/country)."""

    parties: list[dict[str, Any]] = field(default_factory=list)

    def take(self, segment: Segment) -> bool:
        if segment.tag == "N1":
            self.parties.append(
                {
                    "entity": text(segment, 1, required=True, what="an entity identifier code"),
                    "name": text(segment, 2),
                    "id_qualifier": text(segment, 3),
                    "id": text(segment, 4),
                    "address": [],
                }
            )
            return True
        if segment.tag not in ("N2", "N3", "N4") or not self.parties:
            return False
        party = self.parties[-1]
        if segment.tag == "N2":
            if party["name"] is None:
                party["name"] = text(segment, 1)
        elif segment.tag == "N3":
            party["address"].extend(value for value in (segment.get(1), segment.get(2)) if value)
        else:
            party.update(city=text(segment, 1), state=text(segment, 2), postal_code=text(segment, 3))
            party["country"] = text(segment, 4)
        return True

    def freeze(self) -> tuple[Party, ...]:
        return tuple(Party(**{**party, "address": tuple(party["address"])}) for party in self.parties)


def _line_fields(segment: Segment, ids_from: int) -> dict[str, Any]:
    """PO1 and IT1 share their first elements: number, quantity, unit, unit price, price basis, IDs."""
    return {
        "line_number": text(segment, 1),
        "quantity": number(segment, 2),
        "unit": text(segment, 3),
        "unit_price": number(segment, 4),
        "price_basis": text(segment, 5),
        "product_ids": qualified_ids(segment, ids_from),
        "ordinal": segment.ordinal,
    }


# 850 -------------------------------------------------------------------------------------------


@_maps("850")
def map_850(tset: TransactionSet) -> PurchaseOrder850:
    """An 850 purchase order: BEG header, PO1 lines with product IDs, PID descriptions, DTM dates."""
    beg: Segment | None = None
    currency: str | None = None
    references: dict[str, str] = {}
    dates: dict[str, date] = {}
    amounts: dict[str, Decimal] = {}
    parties = _Parties()
    lines: list[dict[str, Any]] = []
    line_count: int | None = None
    for segment in tset.body:
        tag = segment.tag
        if tag == "BEG":
            beg = _only_one(beg, segment)
        elif tag == "PO1":
            lines.append({**_line_fields(segment, 6), "description": None, "dates": {}})
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif tag == "AMT":
            amounts.setdefault(required(segment, 1, "an amount qualifier"), required_number(segment, 2, "an amount"))
        elif lines:
            if tag == "PID":
                lines[-1]["description"] = _description(lines[-1]["description"], segment)
            elif tag == "DTM":
                _add_date(lines[-1]["dates"], segment)
        elif tag == "CUR":
            currency = text(segment, 2)
        elif tag == "REF":
            _add_ref(references, segment)
        elif tag == "DTM":
            _add_date(dates, segment)
        else:
            parties.take(segment)
    if beg is None:
        raise _missing(tset, "BEG", "the purchase order header")
    return PurchaseOrder850(
        control_number=tset.control_number,
        purpose=required(beg, 1, "a purpose code"),
        order_type=text(beg, 2),
        po_number=required(beg, 3, "a purchase order number"),
        release=text(beg, 4),
        po_date=required_date(beg, 5),
        currency=currency,
        references=references,
        dates=dates,
        parties=parties.freeze(),
        lines=tuple(PurchaseOrderLine(**line) for line in lines),
        line_count=line_count,
        amounts=amounts,
    )


# 855 -------------------------------------------------------------------------------------------


@_maps("855")
def map_855(tset: TransactionSet) -> PurchaseOrderAck855:
    """An 855 acknowledgement: BAK header, PO1 lines with ACK statuses, SCH schedules and DTM dates."""
    bak: Segment | None = None
    currency: str | None = None
    references: dict[str, str] = {}
    dates: dict[str, date] = {}
    parties = _Parties()
    lines: list[dict[str, Any]] = []
    line_count: int | None = None
    for segment in tset.body:
        tag = segment.tag
        if tag == "BAK":
            bak = _only_one(bak, segment)
        elif tag == "PO1":
            lines.append({**_line_fields(segment, 6), "description": None, "acks": [], "schedules": [], "dates": {}})
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif lines:
            line = lines[-1]
            if tag == "ACK":
                line["acks"].append(
                    LineAck(
                        status=required(segment, 1, "a line item status code"),
                        quantity=number(segment, 2),
                        unit=text(segment, 3),
                        date_qualifier=text(segment, 4),
                        date=ccyymmdd(segment, 5),
                    )
                )
            elif tag == "SCH":
                line["schedules"].append(
                    LineSchedule(
                        quantity=number(segment, 1),
                        unit=text(segment, 2),
                        date_qualifier=text(segment, 5),
                        date=ccyymmdd(segment, 6),
                    )
                )
            elif tag == "PID":
                line["description"] = _description(line["description"], segment)
            elif tag == "DTM":
                _add_date(line["dates"], segment)
        elif tag == "CUR":
            currency = text(segment, 2)
        elif tag == "REF":
            _add_ref(references, segment)
        elif tag == "DTM":
            _add_date(dates, segment)
        else:
            parties.take(segment)
    if bak is None:
        raise _missing(tset, "BAK", "the acknowledgement header")
    return PurchaseOrderAck855(
        control_number=tset.control_number,
        purpose=required(bak, 1, "a purpose code"),
        ack_type=required(bak, 2, "an acknowledgment type"),
        po_number=required(bak, 3, "a purchase order number"),
        po_date=required_date(bak, 4),
        reference=text(bak, 8),
        ack_date=ccyymmdd(bak, 9),
        currency=currency,
        references=references,
        dates=dates,
        parties=parties.freeze(),
        lines=tuple(
            AckLine(**{**line, "acks": tuple(line["acks"]), "schedules": tuple(line["schedules"])}) for line in lines
        ),
        line_count=line_count,
    )


# 856 -------------------------------------------------------------------------------------------

_PACK_LEVELS = ("P", "T")


@_maps("856")
def map_856(tset: TransactionSet) -> ShipNotice856:
    """An 856 ship notice: BSN header and the HL tree (shipment, order, tare/pack, item).

    HL parents must name an earlier HL of the same set. Item details (LIN, SN1) are only read under an
    item level; an item must have a LIN with at least one product ID and exactly one SN1.
    """
    bsn: Segment | None = None
    td5: Segment | None = None
    references: dict[str, str] = {}
    dates: dict[str, date] = {}
    parties = _Parties()
    levels: dict[str, HierarchyLevel] = {}
    order_data: dict[str, dict[str, Any]] = {}
    pack_marks: dict[str, list[Mark]] = {}
    item_data: dict[str, dict[str, Any]] = {}
    current: HierarchyLevel | None = None
    line_count: int | None = None
    for segment in tset.body:
        tag = segment.tag
        if tag == "BSN":
            bsn = _only_one(bsn, segment)
        elif tag == "HL":
            current = _hierarchy_level(segment, levels)
            levels[current.hl_id] = current
            if current.level == "O":
                order_data[current.hl_id] = {"prf": None, "references": {}}
            elif current.level in _PACK_LEVELS:
                pack_marks[current.hl_id] = []
            elif current.level == "I":
                item_data[current.hl_id] = {"lin": None, "sn1": None, "description": None, "dates": {}}
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif current is None or current.level == "S":
            if tag == "DTM":
                _add_date(dates, segment)
            elif tag == "TD5" and td5 is None:
                td5 = segment
            elif tag == "REF":
                _add_ref(references, segment)
            else:
                parties.take(segment)
        elif current.level == "O":
            if tag == "PRF":
                order = order_data[current.hl_id]
                order["prf"] = _only_one(order["prf"], segment)
            elif tag == "REF":
                _add_ref(order_data[current.hl_id]["references"], segment)
        elif current.level in _PACK_LEVELS and tag == "MAN":
            pack_marks[current.hl_id].append(
                Mark(
                    qualifier=required(segment, 1, "a marks and numbers qualifier"),
                    number=required(segment, 2, "marks and numbers"),
                )
            )
        elif current.level == "I":
            item = item_data[current.hl_id]
            if tag == "LIN":
                item["lin"] = _only_one(item["lin"], segment)
            elif tag == "SN1":
                item["sn1"] = _only_one(item["sn1"], segment)
            elif tag == "PID":
                item["description"] = _description(item["description"], segment)
            elif tag == "DTM":
                _add_date(item["dates"], segment)
        if tag in ("LIN", "SN1") and (current is None or current.level != "I"):
            where = "before any HL" if current is None else f"under HL {current.hl_id} (level {current.level})"
            raise segment.error(
                f"{tag} at byte {segment.offset} is {where}; item details belong under an item level (HL03 I)"
            )
    if bsn is None:
        raise _missing(tset, "BSN", "the ship notice header")

    def nearest(hl_id: str | None, wanted: tuple[str, ...]) -> HierarchyLevel | None:
        while hl_id is not None:
            level = levels[hl_id]
            if level.level in wanted:
                return level
            hl_id = level.parent_id
        return None

    orders = tuple(_ship_order(levels[hl_id], data) for hl_id, data in order_data.items())
    po_by_order = {order.hl_id: order.po_number for order in orders}
    items = []
    for hl_id, data in item_data.items():
        level = levels[hl_id]
        order = nearest(level.parent_id, ("O",))
        pack = nearest(level.parent_id, _PACK_LEVELS)
        items.append(_ship_item(tset, level, data, order, po_by_order, pack))
    return ShipNotice856(
        control_number=tset.control_number,
        purpose=required(bsn, 1, "a purpose code"),
        shipment_id=required(bsn, 2, "a shipment identification"),
        notice_date=required_date(bsn, 3),
        notice_time=hhmm(bsn, 4),
        structure=text(bsn, 5),
        shipped_on=dates.get("011"),
        expected_delivery_on=dates.get("017"),
        dates=dates,
        carrier_qualifier=text(td5, 2) if td5 else None,
        carrier_code=text(td5, 3) if td5 else None,
        transport_method=text(td5, 4) if td5 else None,
        routing=text(td5, 5) if td5 else None,
        bill_of_lading=references.get("BM"),
        references=references,
        parties=parties.freeze(),
        hierarchy=tuple(levels.values()),
        orders=orders,
        packs=tuple(
            ShipPack(hl_id=hl_id, parent_id=levels[hl_id].parent_id, level=levels[hl_id].level, marks=tuple(marks))
            for hl_id, marks in pack_marks.items()
        ),
        items=tuple(items),
        line_count=line_count,
    )


def _hierarchy_level(segment: Segment, levels: dict[str, HierarchyLevel]) -> HierarchyLevel:
    hl_id = required(segment, 1, "a hierarchical id")
    parent_id = text(segment, 2)
    level = required(segment, 3, "a hierarchical level code")
    if hl_id in levels:
        raise segment.error(f"HL01 {hl_id!r} repeats an earlier HL id", 1)
    if parent_id is not None and parent_id not in levels:
        raise segment.error(f"HL02 {parent_id!r} names no earlier HL in this set", 2)
    return HierarchyLevel(hl_id=hl_id, parent_id=parent_id, level=level, position=segment.ordinal)


def _ship_order(level: HierarchyLevel, data: dict[str, Any]) -> ShipOrder:
    prf: Segment | None = data["prf"]
    return ShipOrder(
        hl_id=level.hl_id,
        parent_id=level.parent_id,
        po_number=text(prf, 1, required=True, what="a purchase order number") if prf else None,
        release=text(prf, 2) if prf else None,
        po_date=ccyymmdd(prf, 4) if prf else None,
        references=data["references"],
    )


def _ship_item(
    tset: TransactionSet,
    level: HierarchyLevel,
    data: dict[str, Any],
    order: HierarchyLevel | None,
    po_by_order: dict[str, str | None],
    pack: HierarchyLevel | None,
) -> ShipItem:
    lin: Segment | None = data["lin"]
    sn1: Segment | None = data["sn1"]
    hl = tset.segments[level.position - 1]
    if lin is None:
        raise hl.error(f"item HL {level.hl_id} has no LIN segment (product IDs)", reason="missing")
    product_ids = qualified_ids(lin, 2)
    if not product_ids:
        raise lin.error(f"LIN of item HL {level.hl_id} carries no product ID", 3, reason="missing")
    if sn1 is None:
        raise hl.error(f"item HL {level.hl_id} has no SN1 segment (quantity shipped)", reason="missing")
    return ShipItem(
        hl_id=level.hl_id,
        parent_id=level.parent_id,
        line_number=text(lin, 1),
        product_ids=product_ids,
        quantity=required_number(sn1, 2, "a quantity shipped"),
        unit=required(sn1, 3, "a unit of measure"),
        quantity_ordered=number(sn1, 5),
        ordered_unit=text(sn1, 6),
        description=data["description"],
        dates=data["dates"],
        order_hl_id=order.hl_id if order else None,
        po_number=po_by_order.get(order.hl_id) if order else None,
        pack_hl_id=pack.hl_id if pack else None,
        ordinal=lin.ordinal,
    )


# 810 -------------------------------------------------------------------------------------------


@_maps("810")
def map_810(tset: TransactionSet) -> Invoice810:
    """An 810 invoice: BIG header, IT1 lines, TDS total (N2: two implied decimals)."""
    big: Segment | None = None
    currency: str | None = None
    references: dict[str, str] = {}
    dates: dict[str, date] = {}
    parties = _Parties()
    lines: list[dict[str, Any]] = []
    total: Decimal | None = None
    line_count: int | None = None
    line_charges: list[InvoiceCharge] = []
    summary_charges: list[InvoiceCharge] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BIG":
            big = _only_one(big, segment)
        elif tag == "IT1":
            lines.append({**_line_fields(segment, 6), "description": None})
        elif tag == "TDS":
            total = implied_decimal(segment, 1, 2, required=True)
        elif tag == "SAC":
            charge = _charge(segment)
            if charge is not None:
                (summary_charges if total is not None else line_charges).append(charge)
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif lines:
            if tag == "PID":
                lines[-1]["description"] = _description(lines[-1]["description"], segment)
        elif tag == "CUR":
            currency = text(segment, 2)
        elif tag == "REF":
            _add_ref(references, segment)
        elif tag == "DTM":
            _add_date(dates, segment)
        else:
            parties.take(segment)
    if big is None:
        raise _missing(tset, "BIG", "the invoice header")
    return Invoice810(
        control_number=tset.control_number,
        invoice_date=required_date(big, 1),
        invoice_number=required(big, 2, "an invoice number"),
        po_date=ccyymmdd(big, 3),
        po_number=text(big, 4),
        transaction_type=text(big, 7),
        currency=currency,
        references=references,
        dates=dates,
        parties=parties.freeze(),
        lines=tuple(InvoiceLine(**line) for line in lines),
        total_amount=total,
        line_count=line_count,
        charges=tuple(summary_charges or line_charges),
    )


def _charge(segment: Segment) -> InvoiceCharge | None:
    """A SAC allowance or charge with an amount; None for SAC01 N or no SAC05."""
    indicator = text(segment, 1, required=True, what="an allowance or charge indicator")
    amount = implied_decimal(segment, 5, 2)
    if indicator not in ("A", "C") or amount is None:
        return None
    return InvoiceCharge(indicator=indicator, code=text(segment, 2), amount=amount, description=text(segment, 15))


# 846 -------------------------------------------------------------------------------------------


@_maps("846")
def map_846(tset: TransactionSet) -> InventoryAdvice846:
    """An 846 inventory advice: BIA header, LIN items with QTY quantities (unit from QTY03 or UIT)."""
    bia: Segment | None = None
    currency: str | None = None
    dates: dict[str, date] = {}
    parties = _Parties()
    items: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BIA":
            bia = _only_one(bia, segment)
        elif tag == "LIN":
            ids = qualified_ids(segment, 2)
            if not ids:
                raise segment.error(f"LIN at byte {segment.offset} carries no product ID", 3, reason="missing")
            items.append(
                {
                    "line_number": text(segment, 1),
                    "product_ids": ids,
                    "description": None,
                    "quantities": [],
                    "dates": {},
                    "unit": None,
                    "ordinal": segment.ordinal,
                }
            )
        elif items:
            item = items[-1]
            if tag == "QTY":
                item["quantities"].append(
                    {
                        "qualifier": text(segment, 1, required=True, what="a quantity qualifier"),
                        "quantity": number(segment, 2),
                        "unit": segment.components(3)[0] or None,
                    }
                )
            elif tag == "UIT":
                unit = segment.components(1)[0] or None
                if item["quantities"] and item["quantities"][-1]["unit"] is None:
                    item["quantities"][-1]["unit"] = unit
                elif not item["quantities"]:
                    item["unit"] = unit
            elif tag == "PID":
                item["description"] = _description(item["description"], segment)
            elif tag == "DTM":
                _add_date(item["dates"], segment)
        elif tag == "CUR":
            currency = text(segment, 2)
        elif tag == "DTM":
            _add_date(dates, segment)
        else:
            parties.take(segment)
    if bia is None:
        raise _missing(tset, "BIA", "the inventory advice header")
    return InventoryAdvice846(
        control_number=tset.control_number,
        purpose=required(bia, 1, "a purpose code"),
        report_type=text(bia, 2),
        reference=text(bia, 3),
        advice_date=required_date(bia, 4),
        advice_time=hhmm(bia, 5),
        currency=currency,
        dates=dates,
        parties=parties.freeze(),
        items=tuple(
            InventoryItem(
                line_number=item["line_number"],
                product_ids=item["product_ids"],
                description=item["description"],
                quantities=tuple(
                    InventoryQuantity(
                        qualifier=quantity["qualifier"],
                        quantity=quantity["quantity"],
                        unit=quantity["unit"] or item["unit"],
                    )
                    for quantity in item["quantities"]
                ),
                dates=item["dates"],
                ordinal=item["ordinal"],
            )
            for item in items
        ),
    )


# 997 -------------------------------------------------------------------------------------------


def _codes(segment: Segment, first: int, last: int) -> tuple[str, ...]:
    return tuple(value for value in (segment.get(i) for i in range(first, last + 1)) if value)


@_maps("997")
def map_997(tset: TransactionSet) -> FunctionalAck997:
    """A 997 functional acknowledgement: AK1 group, AK2/AK3/AK4/AK5 per set, AK9 group outcome."""
    ak1: Segment | None = None
    ak9: Segment | None = None
    sets: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "AK1":
            ak1 = _only_one(ak1, segment)
        elif tag == "AK2":
            sets.append(
                {
                    "ak2": segment,
                    "code": text(segment, 1, required=True, what="a transaction set identifier"),
                    "control_number": text(segment, 2, required=True, what="a transaction set control number"),
                    "ak5": None,
                    "segments": [],
                }
            )
        elif tag == "AK3":
            if not sets:
                raise segment.error("AK3 comes before any AK2", reason="invalid_value")
            sets[-1]["segments"].append(
                {
                    "segment": required(segment, 1, "a segment id"),
                    "ordinal": integer(segment, 2),
                    "loop": text(segment, 3),
                    "code": text(segment, 4),
                    "elements": [],
                }
            )
        elif tag == "AK4":
            if not sets or not sets[-1]["segments"]:
                raise segment.error("AK4 comes before any AK3", reason="invalid_value")
            sets[-1]["segments"][-1]["elements"].append(
                ElementNote(
                    position=required(segment, 1, "an element position"),
                    reference=text(segment, 2),
                    code=required(segment, 3, "an element syntax error code"),
                    value=text(segment, 4),
                )
            )
        elif tag == "AK5":
            if not sets:
                raise segment.error("AK5 comes before any AK2", reason="invalid_value")
            sets[-1]["ak5"] = _only_one(sets[-1]["ak5"], segment)
        elif tag == "AK9":
            ak9 = _only_one(ak9, segment)
    if ak1 is None:
        raise _missing(tset, "AK1", "the acknowledged group")
    if ak9 is None:
        raise _missing(tset, "AK9", "the group response")
    acks = []
    for entry in sets:
        ak5: Segment | None = entry["ak5"]
        if ak5 is None:
            raise entry["ak2"].error(f"AK2 of set {entry['control_number']} has no AK5 response", reason="missing")
        acks.append(
            SetAck(
                code=entry["code"],
                control_number=entry["control_number"],
                status=required(ak5, 1, "a transaction set acknowledgment code"),
                error_codes=_codes(ak5, 2, 6),
                segments=tuple(
                    SegmentNote(**{**note, "elements": tuple(note["elements"])}) for note in entry["segments"]
                ),
            )
        )
    return FunctionalAck997(
        control_number=tset.control_number,
        functional_id=required(ak1, 1, "a functional identifier code"),
        group_control=required(ak1, 2, "a group control number"),
        version=text(ak1, 3),
        sets=tuple(acks),
        status=required(ak9, 1, "a functional group acknowledge code"),
        sets_included=integer(ak9, 2, required=True) or 0,
        sets_received=integer(ak9, 3, required=True) or 0,
        sets_accepted=integer(ak9, 4, required=True) or 0,
        error_codes=_codes(ak9, 5, 9),
    )


# 824 -------------------------------------------------------------------------------------------


@_maps("824")
def map_824(tset: TransactionSet) -> ApplicationAdvice824:
    """An 824 application advice: BGN header, OTI per original set, TED errors (TED02 + NTE text)."""
    bgn: Segment | None = None
    items: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BGN":
            bgn = _only_one(bgn, segment)
        elif tag == "OTI":
            items.append(
                {
                    "action": required(segment, 1, "an application acknowledgment code"),
                    "reference_qualifier": required(segment, 2, "a reference qualifier"),
                    "reference_id": required(segment, 3, "a reference id"),
                    "sender": text(segment, 4),
                    "receiver": text(segment, 5),
                    "group_control": text(segment, 8),
                    "set_control": text(segment, 9),
                    "set_code": text(segment, 10),
                    "errors": [],
                }
            )
        elif tag == "TED" and items:
            items[-1]["errors"].append(
                {
                    "code": required(segment, 1, "an application error condition code"),
                    "message": segment.get(2),
                    "segment": text(segment, 3),
                    "ordinal": integer(segment, 4),
                    "element": integer(segment, 5),
                    "value": text(segment, 7),
                }
            )
        elif tag == "NTE" and items and items[-1]["errors"]:
            items[-1]["errors"][-1]["message"] += segment.get(2)
    if bgn is None:
        raise _missing(tset, "BGN", "the advice header")
    return ApplicationAdvice824(
        control_number=tset.control_number,
        purpose=required(bgn, 1, "a purpose code"),
        reference=required(bgn, 2, "a reference id"),
        advice_date=required_date(bgn, 3),
        items=tuple(
            AdviceItem(**{**item, "errors": tuple(AdviceError(**error) for error in item["errors"])}) for item in items
        ),
    )
