"""855 purchase order acknowledgements."""

from __future__ import annotations

from typing import Any

from suppliers.adapters.x12.documents import AckLine, LineAck, LineSchedule, PurchaseOrderAck855
from suppliers.adapters.x12.mappers.common import (
    Header,
    add_date,
    date_element,
    description,
    line_fields,
    maps,
    missing,
    only_one,
)
from suppliers.adapters.x12.model import Segment, TransactionSet
from suppliers.adapters.x12.values import integer, number, required, text
from suppliers.profiles import DocumentProfile


@maps("855", profiled=True)
def map_855(tset: TransactionSet, profile: DocumentProfile) -> PurchaseOrderAck855:
    """An 855 acknowledgement: BAK header, PO1 lines with ACK statuses, SCH schedules and DTM dates."""
    bak: Segment | None = None
    header = Header(profile=profile)
    lines: list[dict[str, Any]] = []
    line_count: int | None = None
    for segment in tset.body:
        tag = segment.tag
        if tag == "BAK":
            bak = only_one(bak, segment)
        elif tag == "PO1":
            lines.append({**line_fields(segment, 6), "description": None, "acks": [], "schedules": [], "dates": {}})
        elif tag == "CTT":
            line_count = integer(segment, 1)
        elif lines:
            _take_line(lines[-1], segment, profile)
        else:
            header.take(segment)
    if bak is None:
        raise missing(tset, "BAK", "the acknowledgement header")
    return PurchaseOrderAck855(
        control_number=tset.control_number,
        purpose=required(bak, 1, "a purpose code"),
        ack_type=required(bak, 2, "an acknowledgment type"),
        po_number=required(bak, 3, "a purchase order number"),
        po_date=date_element(bak, 4, profile, required=True),
        reference=text(bak, 8),
        ack_date=date_element(bak, 9, profile),
        currency=header.currency,
        references=header.references,
        dates=header.dates,
        parties=header.parties.freeze(),
        lines=tuple(
            AckLine(**{**line, "acks": tuple(line["acks"]), "schedules": tuple(line["schedules"])}) for line in lines
        ),
        line_count=line_count,
    )


def _take_line(line: dict[str, Any], segment: Segment, profile: DocumentProfile) -> None:
    """A segment inside a PO1 loop: ACK status, SCH schedule, PID description, DTM date."""
    tag = segment.tag
    if tag == "ACK":
        line["acks"].append(
            LineAck(
                status=required(segment, 1, "a line item status code"),
                quantity=number(segment, 2),
                unit=text(segment, 3),
                date_qualifier=text(segment, 4),
                date=date_element(segment, 5, profile),
            )
        )
    elif tag == "SCH":
        line["schedules"].append(
            LineSchedule(
                quantity=number(segment, 1),
                unit=text(segment, 2),
                date_qualifier=text(segment, 5),
                date=date_element(segment, 6, profile),
            )
        )
    elif tag == "PID":
        line["description"] = description(line["description"], segment)
    elif tag == "DTM":
        add_date(line["dates"], segment, profile)
