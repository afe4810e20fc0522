"""X12 toolkit for the suppliers app: read any interchange, map transaction sets, write 850/997/824.

Pure Python (no database, no business rules). The public API is this module; see docs/X12.md.

Reading::

    interchange = read_interchange(raw_bytes)          # raises X12Error with segment/element/value/position
    for tset in interchange.transaction_sets("856"):
        notice = map_856(tset)                          # ShipNotice856, or X12Error naming the set

Writing::

    raw = build_850(Outbound850(...))                   # fixed-width ISA, SE/GE/IEA counts right
    ack = build_997(interchange, accepted=True, interchange_control=..., group_control=..., created_at=...)
    advice = build_824(interchange, [Rejection824(group_control, set_control, reason)], ...)
    ta1 = build_ta1(interchange.header, acknowledgement="A", note="000", interchange_control=..., created_at=...)

Every failure is an :class:`X12Error` (a ``scm.errors.DomainError``); ``str(error)`` reads like
``SE01 '12' does not match the 14 segments counted in set 0001`` and ``error.fields`` holds the facts.
"""

from suppliers.adapters.x12.documents import (
    ACK_STATUS_LABELS,
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
from suppliers.adapters.x12.errors import X12Error, X12Warning
from suppliers.adapters.x12.isa import read_isa
from suppliers.adapters.x12.mappers import map_810, map_824, map_846, map_850, map_855, map_856, map_997
from suppliers.adapters.x12.model import (
    Delimiters,
    FunctionalGroup,
    Interchange,
    IsaHeader,
    Segment,
    TransactionSet,
)
from suppliers.adapters.x12.reader import read_interchange
from suppliers.adapters.x12.ta1 import build_ta1, ta1_note
from suppliers.adapters.x12.writer import (
    Outbound850,
    Outbound850Line,
    Rejection824,
    build_824,
    build_850,
    build_997,
)

#: ST01 → mapper, for the pipeline's dispatch (850 is ours, read back; 824 may come from suppliers too).
MAPPERS = {
    "810": map_810,
    "824": map_824,
    "846": map_846,
    "850": map_850,
    "855": map_855,
    "856": map_856,
    "997": map_997,
}

__all__ = [
    "ACK_STATUS_LABELS",
    "MAPPERS",
    "AckLine",
    "AdviceError",
    "AdviceItem",
    "ApplicationAdvice824",
    "Delimiters",
    "ElementNote",
    "FunctionalAck997",
    "FunctionalGroup",
    "HierarchyLevel",
    "Interchange",
    "IsaHeader",
    "InventoryAdvice846",
    "InventoryItem",
    "InventoryQuantity",
    "Invoice810",
    "InvoiceCharge",
    "InvoiceLine",
    "LineAck",
    "LineSchedule",
    "Mark",
    "Outbound850",
    "Outbound850Line",
    "Party",
    "PurchaseOrder850",
    "PurchaseOrderAck855",
    "PurchaseOrderLine",
    "Rejection824",
    "Segment",
    "SegmentNote",
    "SetAck",
    "ShipItem",
    "ShipNotice856",
    "ShipOrder",
    "ShipPack",
    "TransactionSet",
    "X12Error",
    "X12Warning",
    "build_824",
    "build_850",
    "build_997",
    "build_ta1",
    "map_810",
    "map_824",
    "map_846",
    "map_850",
    "map_855",
    "map_856",
    "map_997",
    "read_interchange",
    "read_isa",
    "ta1_note",
]
