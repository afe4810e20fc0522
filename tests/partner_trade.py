"""Master data for the transport tests: a supplier with a mapped item and a purchase order, made
through the real services, and the partner connection of each protocol."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import Fernet

from partners import services as outbox
from partners.connections import partner_connection_save
from partners.models import OutboxEntry
from scm.events.store import read_stream
from suppliers import services
from suppliers.models import OutboundKind, OutboundMessage, PurchaseOrder, Supplier
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

TEST_SECRETS_KEY = Fernet.generate_key().decode()


@dataclass
class Trade:
    supplier: Supplier
    sku: str
    part: str
    order: PurchaseOrder


def make_trade(unique: str, *, qty: int = 10) -> Trade:
    supplier = make_supplier(unique)
    sku = item(f"T-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"TP-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, qty, "3.00")], send=False)
    return Trade(supplier=supplier, sku=sku, part=f"TP-{unique}", order=order)


def send_order(trade: Trade) -> OutboxEntry | None:
    """`purchase_order_send`, then what the `partners.outbox` subscription does with its event."""
    from partners import handlers

    services.purchase_order_send(po_id=trade.order.pk)
    [sent] = [e for e in read_stream(trade.order.stream) if e.type == "PurchaseOrderSent"]
    handlers.on_document_built(sent)
    document = OutboundMessage.objects.get(purchase_order=trade.order, kind=OutboundKind.PO_850)
    return OutboxEntry.objects.filter(document=document).first()


def asn_for(trade: Trade, number: str, control: int, qty: int = 4) -> bytes:
    return interchange(
        trade.supplier.isa_id, control, [("856", asn_body(number, trade.order.number, [("1", trade.part, qty)]))]
    )


def sftp_connection(trade: Trade, server, **overrides):
    fields = {
        "protocol": "sftp",
        "sftp_host": "127.0.0.1",
        "sftp_port": server.port,
        "sftp_username": server.username,
        "sftp_host_key": server.public_key,
        "sftp_inbox_path": "/inbox",
        "sftp_outbox_path": "/outbox",
        **overrides,
    }
    return partner_connection_save(
        supplier=trade.supplier.code, secrets_given={"sftp_password": server.password}, **fields
    )


def event_types(stream: str) -> list[str]:
    return [e.type for e in read_stream(stream)]


__all__ = ["outbox"]
