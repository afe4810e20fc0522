"""Event handlers: every outbound document the other apps build is queued in the outbox.

The `partners.outbox` subscription follows the log: a PurchaseOrderSent names its 850; a processed
supplier message (applied or quarantined) may have produced a 997 and an 824 for it. Queueing is
idempotent (one outbox entry per document), so a replayed event queues nothing twice. Documents no
event names (a 997 for a duplicate interchange, TA1/CONTRL built by other code) are picked up by the
beat sweep, `services.outbox_enqueue_missing`.
"""

from __future__ import annotations

from partners import services
from scm.events.store import RecordedEvent
from suppliers.models import OutboundMessage

DOCUMENT_EVENTS = ("PurchaseOrderSent", "SupplierMessageApplied", "SupplierMessageQuarantined")


def on_document_built(event: RecordedEvent) -> None:
    if event.type == "PurchaseOrderSent":
        document_ids = [event.payload["outbound_message_id"]]
    else:
        document_ids = list(
            OutboundMessage.objects.filter(inbound_message_id=event.payload["message_id"])
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    for document_id in document_ids:
        services.outbox_enqueue(document_id=document_id)
