"""824 application advice."""

from __future__ import annotations

from typing import Any

from suppliers.adapters.x12.documents import AdviceError, AdviceItem, ApplicationAdvice824
from suppliers.adapters.x12.mappers.common import maps, missing, only_one
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import integer, required, required_date, text


@maps("824")
def map_824(tset: TransactionSet) -> ApplicationAdvice824:
    """An 824 application advice: BGN header, OTI per original set, TED errors (TED02 + NTE text)."""
    bgn: Segment | None = None
    items: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "BGN":
            bgn = only_one(bgn, segment)
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
        raise missing(tset, "BGN", "the advice header")
    return ApplicationAdvice824(
        control_number=tset.control_number,
        purpose=required(bgn, 1, "a purpose code"),
        reference=required(bgn, 2, "a reference id"),
        advice_date=required_date(bgn, 3),
        items=tuple(
            AdviceItem(**{**item, "errors": tuple(AdviceError(**error) for error in item["errors"])}) for item in items
        ),
    )
