"""846 inventory advice."""

from __future__ import annotations

from datetime import date
from typing import Any

from suppliers.adapters.x12.documents import InventoryAdvice846, InventoryItem, InventoryQuantity
from suppliers.adapters.x12.mappers.common import Parties, add_date, date_element, description, maps, missing, only_one
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import hhmm, number, qualified_ids, required, text
from suppliers.profiles import DocumentProfile


@maps("846", profiled=True)
def map_846(tset: TransactionSet, profile: DocumentProfile) -> InventoryAdvice846:
    """An 846 inventory advice: BIA header, LIN items with QTY quantities (unit from QTY03 or UIT)."""
    bia: Segment | None = None
    currency: str | None = None
    dates: dict[str, date] = {}
    parties = Parties()
    items: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BIA":
            bia = only_one(bia, segment)
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
                item["description"] = description(item["description"], segment)
            elif tag == "DTM":
                add_date(item["dates"], segment, profile)
        elif tag == "CUR":
            currency = text(segment, 2)
        elif tag == "DTM":
            add_date(dates, segment, profile)
        else:
            parties.take(segment)
    if bia is None:
        raise missing(tset, "BIA", "the inventory advice header")
    return InventoryAdvice846(
        control_number=tset.control_number,
        purpose=required(bia, 1, "a purpose code"),
        report_type=text(bia, 2),
        reference=text(bia, 3),
        advice_date=date_element(bia, 4, profile, required=True),
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
