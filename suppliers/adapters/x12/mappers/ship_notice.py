"""856 ship notices: the BSN header and the HL tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from suppliers.adapters.x12.documents import HierarchyLevel, Mark, ShipItem, ShipNotice856, ShipOrder, ShipPack
from suppliers.adapters.x12.mappers.common import (
    NO_PROFILE,
    Parties,
    add_date,
    add_ref,
    date_element,
    description,
    maps,
    missing,
    only_one,
)
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import (
    hhmm,
    integer,
    number,
    qualified_ids,
    required,
    required_number,
    text,
)
from suppliers.profiles import DocumentProfile

_PACK_LEVELS = ("P", "T")


@maps("856", profiled=True)
def map_856(tset: TransactionSet, profile: DocumentProfile) -> ShipNotice856:
    """An 856 ship notice: BSN header and the HL tree (shipment, order, tare/pack, item).

    HL parents must name an earlier HL of the same set. Item details (LIN, SN1) are only read under an
    item level; an item must have a LIN with at least one product ID and exactly one SN1.
    """
    tree = _ShipNoticeTree(profile=profile)
    for segment in tset.body:
        tree.take(segment)
    if tree.bsn is None:
        raise missing(tset, "BSN", "the ship notice header")
    return tree.build(tset, tree.bsn)


@dataclass
class _ShipNoticeTree:
    """What an 856's segments say, collected level by level as they come (one `take` per segment)."""

    profile: DocumentProfile = NO_PROFILE
    bsn: Segment | None = None
    td5: Segment | None = None
    references: dict[str, str] = field(default_factory=dict)
    dates: dict[str, date] = field(default_factory=dict)
    parties: Parties = field(default_factory=Parties)
    levels: dict[str, HierarchyLevel] = field(default_factory=dict)
    order_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    pack_marks: dict[str, list[Mark]] = field(default_factory=dict)
    item_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    current: HierarchyLevel | None = None
    line_count: int | None = None

    def take(self, segment: Segment) -> None:
        tag, current = segment.tag, self.current
        if tag in ("LIN", "SN1") and (current is None or current.level != "I"):
            where = "before any HL" if current is None else f"under HL {current.hl_id} (level {current.level})"
            raise segment.error(
                f"{tag} at byte {segment.offset} is {where}; item details belong under an item level (HL03 I)"
            )
        if tag == "BSN":
            self.bsn = only_one(self.bsn, segment)
        elif tag == "HL":
            self._open_level(segment)
        elif tag == "CTT":
            self.line_count = integer(segment, 1)
        elif current is None or current.level == "S":
            self._take_shipment(segment)
        elif current.level == "O":
            self._take_order(segment, self.order_data[current.hl_id])
        elif current.level in _PACK_LEVELS and tag == "MAN":
            self.pack_marks[current.hl_id].append(
                Mark(
                    qualifier=required(segment, 1, "a marks and numbers qualifier"),
                    number=required(segment, 2, "marks and numbers"),
                )
            )
        elif current.level == "I":
            self._take_item(segment, self.item_data[current.hl_id])

    def _open_level(self, segment: Segment) -> None:
        current = self.current = _hierarchy_level(segment, self.levels)
        self.levels[current.hl_id] = current
        if current.level == "O":
            self.order_data[current.hl_id] = {"prf": None, "references": {}}
        elif current.level in _PACK_LEVELS:
            self.pack_marks[current.hl_id] = []
        elif current.level == "I":
            self.item_data[current.hl_id] = {"lin": None, "sn1": None, "description": None, "dates": {}}

    def _take_shipment(self, segment: Segment) -> None:
        tag = segment.tag
        if tag == "DTM":
            add_date(self.dates, segment, self.profile)
        elif tag == "TD5" and self.td5 is None:
            self.td5 = segment
        elif tag == "REF":
            add_ref(self.references, segment)
        else:
            self.parties.take(segment)

    @staticmethod
    def _take_order(segment: Segment, order: dict[str, Any]) -> None:
        if segment.tag == "PRF":
            order["prf"] = only_one(order["prf"], segment)
        elif segment.tag == "REF":
            add_ref(order["references"], segment)

    def _take_item(self, segment: Segment, item: dict[str, Any]) -> None:
        tag = segment.tag
        if tag == "LIN":
            item["lin"] = only_one(item["lin"], segment)
        elif tag == "SN1":
            item["sn1"] = only_one(item["sn1"], segment)
        elif tag == "PID":
            item["description"] = description(item["description"], segment)
        elif tag == "DTM":
            add_date(item["dates"], segment, self.profile)

    def _nearest(self, hl_id: str | None, wanted: tuple[str, ...]) -> HierarchyLevel | None:
        while hl_id is not None:
            level = self.levels[hl_id]
            if level.level in wanted:
                return level
            hl_id = level.parent_id
        return None

    def _items(self, tset: TransactionSet, orders: tuple[ShipOrder, ...]) -> tuple[ShipItem, ...]:
        po_by_order = {order.hl_id: order.po_number for order in orders}
        items = []
        for hl_id, data in self.item_data.items():
            level = self.levels[hl_id]
            order = self._nearest(level.parent_id, ("O",))
            pack = self._nearest(level.parent_id, _PACK_LEVELS)
            items.append(_ship_item(tset, level, data, order, po_by_order, pack))
        return tuple(items)

    def build(self, tset: TransactionSet, bsn: Segment) -> ShipNotice856:
        orders = tuple(_ship_order(self.levels[hl_id], data, self.profile) for hl_id, data in self.order_data.items())
        td5, levels = self.td5, self.levels
        return ShipNotice856(
            control_number=tset.control_number,
            purpose=required(bsn, 1, "a purpose code"),
            shipment_id=required(bsn, 2, "a shipment identification"),
            notice_date=date_element(bsn, 3, self.profile, required=True),
            notice_time=hhmm(bsn, 4),
            structure=text(bsn, 5),
            shipped_on=self.dates.get("011"),
            expected_delivery_on=self.dates.get("017"),
            dates=self.dates,
            carrier_qualifier=text(td5, 2) if td5 else None,
            carrier_code=text(td5, 3) if td5 else None,
            transport_method=text(td5, 4) if td5 else None,
            routing=text(td5, 5) if td5 else None,
            bill_of_lading=self.references.get("BM"),
            references=self.references,
            parties=self.parties.freeze(),
            hierarchy=tuple(levels.values()),
            orders=orders,
            packs=tuple(
                ShipPack(hl_id=hl_id, parent_id=levels[hl_id].parent_id, level=levels[hl_id].level, marks=tuple(marks))
                for hl_id, marks in self.pack_marks.items()
            ),
            items=self._items(tset, orders),
            line_count=self.line_count,
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


def _ship_order(level: HierarchyLevel, data: dict[str, Any], profile: DocumentProfile) -> ShipOrder:
    prf: Segment | None = data["prf"]
    return ShipOrder(
        hl_id=level.hl_id,
        parent_id=level.parent_id,
        po_number=text(prf, 1, required=True, what="a purchase order number") if prf else None,
        release=text(prf, 2) if prf else None,
        po_date=date_element(prf, 4, profile) if prf else None,
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
