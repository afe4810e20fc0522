"""997 functional acknowledgements."""

from __future__ import annotations

from typing import Any

from suppliers.adapters.x12.documents import ElementNote, FunctionalAck997, SegmentNote, SetAck
from suppliers.adapters.x12.mappers.common import maps, missing, only_one
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import integer, required, text


def _codes(segment: Segment, first: int, last: int) -> tuple[str, ...]:
    return tuple(value for value in (segment.get(i) for i in range(first, last + 1)) if value)


@maps("997")
def map_997(tset: TransactionSet) -> FunctionalAck997:
    """A 997 functional acknowledgement: AK1 group, AK2/AK3/AK4/AK5 per set, AK9 group outcome."""
    ak1: Segment | None = None
    ak9: Segment | None = None
    sets: list[dict[str, Any]] = []
    for segment in tset.body:
        tag = segment.tag
        if tag == "AK1":
            ak1 = only_one(ak1, segment)
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
            sets[-1]["ak5"] = only_one(sets[-1]["ak5"], segment)
        elif tag == "AK9":
            ak9 = only_one(ak9, segment)
    if ak1 is None:
        raise missing(tset, "AK1", "the acknowledged group")
    if ak9 is None:
        raise missing(tset, "AK9", "the group response")
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
