"""EDIFACT toolkit for the suppliers app: read any interchange, map DESADV/ORDRSP/INVOIC, write CONTRL.

Pure Python (no database, no business rules), shaped like the X12 toolkit. See docs/EDIFACT.md.

Reading::

    interchange = read_interchange(raw_bytes)            # raises EdifactError with segment/element/value/position
    for message in interchange.find("DESADV"):
        notice, problems = map_desadv(message, origin)   # a suppliers.documents.ShipNoticeDoc

Writing::

    contrl = build_contrl(interchange, errors, interchange_control=..., message_reference=..., created_at=...)

Every failure is an :class:`EdifactError` (a ``scm.errors.DomainError``); ``str(error)`` reads like
``QTY01-2 '12,5' uses ',' as decimal mark; this interchange declares '.' (UNA3)``.
"""

from suppliers.adapters.edifact.errors import CONTRL_CODES, EdifactError, EdifactWarning
from suppliers.adapters.edifact.mappers import MAPPERS, map_desadv, map_invoic, map_message, map_ordrsp
from suppliers.adapters.edifact.model import (
    Element,
    Group,
    Header,
    Interchange,
    Message,
    Segment,
    ServiceChars,
)
from suppliers.adapters.edifact.reader import read_header, read_interchange
from suppliers.adapters.edifact.writer import build_contrl

__all__ = [
    "CONTRL_CODES",
    "MAPPERS",
    "EdifactError",
    "EdifactWarning",
    "Element",
    "Group",
    "Header",
    "Interchange",
    "Message",
    "Segment",
    "ServiceChars",
    "build_contrl",
    "map_desadv",
    "map_invoic",
    "map_message",
    "map_ordrsp",
    "read_header",
    "read_interchange",
]
