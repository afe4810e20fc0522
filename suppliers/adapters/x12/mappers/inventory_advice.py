"""846 inventory advice."""

from __future__ import annotations

from typing import Any

from suppliers.adapters.x12.documents import InventoryAdvice846, InventoryItem, InventoryQuantity
from suppliers.adapters.x12.mappers.common import Header, add_date, date_element, description, maps, missing, only_one
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import hhmm, number, qualified_ids, required, text
from suppliers.profiles import DocumentProfile


@maps("846", profiled=True)
def map_846(tset: TransactionSet, profile: DocumentProfile) -> InventoryAdvice846:
    """An 846 inventory advice: BIA header, LIN items with QTY quantities (unit from QTY03 or UIT)."""
    bia: Segment | None = None
    header = Header(with_references=False, profile=profile)
    items: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BIA":
            bia = only_one(bia, segment)
        elif tag == "LIN":
            items.append(_item(segment))
        elif items:
            _take_item(items[-1], segment, profile)
        else:
            header.take(segment)
    if bia is None:
        raise missing(tset, "BIA", "the inventory advice header")
    return InventoryAdvice846(
        control_number=tset.control_number,
        purpose=required(bia, 1, "a purpose code"),
        report_type=text(bia, 2),
        reference=text(bia, 3),
        advice_date=date_element(bia, 4, profile, required=True),
        advice_time=hhmm(bia, 5),
        currency=header.currency,
        dates=header.dates,
        parties=header.parties.freeze(),
        items=tuple(_inventory_item(item) for item in items),
    )


def _item(lin: Segment) -> dict[str, Any]:
    ids = qualified_ids(lin, 2)
    if not ids:
        raise lin.error(f"LIN at byte {lin.offset} carries no product ID", 3, reason="missing")
    return {
        "line_number": text(lin, 1),
        "product_ids": ids,
        "description": None,
        "quantities": [],
        "dates": {},
        "unit": None,
        "ordinal": lin.ordinal,
    }


def _take_item(item: dict[str, Any], segment: Segment, profile: DocumentProfile) -> None:
    """A segment inside a LIN loop: QTY quantity, UIT unit (of the QTY before it, or of the item when
    it comes first), PID description, DTM date."""
    tag = segment.tag
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
        item["description"] = description(item["description"], segment)
    elif tag == "DTM":
        add_date(item["dates"], segment, profile)


def _inventory_item(item: dict[str, Any]) -> InventoryItem:
    return InventoryItem(
        line_number=item["line_number"],
        product_ids=item["product_ids"],
        description=item["description"],
        quantities=tuple(
            InventoryQuantity(
                qualifier=quantity["qualifier"], quantity=quantity["quantity"], unit=quantity["unit"] or item["unit"]
            )
            for quantity in item["quantities"]
        ),
        dates=item["dates"],
        ordinal=item["ordinal"],
    )
