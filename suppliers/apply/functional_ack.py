"""Functional acknowledgements (997) of the messages we sent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scm.events.store import NewEvent, append
from suppliers.apply.base import Context, Plan
from suppliers.documents import FunctionalAckDoc
from suppliers.models import OutboundKind, OutboundMessage, OutboundStatus
from suppliers.services import supplier_stream


@dataclass
class FunctionalAckPlan(Plan):
    doc: FunctionalAckDoc | None = None

    def apply(self, ctx: Context) -> dict[str, Any]:
        doc = self.doc
        control = int(doc.group_control) if doc.group_control.isdigit() else doc.group_control
        acknowledged = (
            OutboundMessage.objects.select_for_update()
            .filter(supplier=ctx.supplier, gs_control=str(control))
            .exclude(kind=OutboundKind.ACK_997)
            .order_by("-id")
            .first()
        )
        if acknowledged is not None:
            acknowledged.status = OutboundStatus.ACCEPTED if doc.accepted else OutboundStatus.REJECTED
            acknowledged.acknowledged_by = ctx.message
            acknowledged.save(update_fields=["status", "acknowledged_by"])
        payload = {
            "supplier": ctx.supplier.code,
            "functional_id": doc.functional_id,
            "group_control": doc.group_control,
            "status": doc.status,
            "accepted": doc.accepted,
            "sets": [{"code": s.code, "control_number": s.control_number, "status": s.status} for s in doc.sets],
            "outbound_message_id": acknowledged.pk if acknowledged else None,
            "outbound_kind": acknowledged.kind if acknowledged else None,
            "purchase_order": acknowledged.purchase_order.number
            if acknowledged and acknowledged.purchase_order_id
            else None,
            "message_id": ctx.message_id,
        }
        append(supplier_stream(ctx.supplier.code), [NewEvent(type="FunctionalAckReceived", payload=payload)])
        return {"document": "997", "group_control": doc.group_control, "matched": acknowledged is not None}
