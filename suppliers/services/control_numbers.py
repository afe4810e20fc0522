"""X12 control numbers and the outbound messages we produce with them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scm import raw_sql
from suppliers.exceptions import ControlNumbersExhausted
from suppliers.models import X12_MAX_CONTROL, InboundMessage, OutboundMessage, PurchaseOrder, Supplier


@dataclass(frozen=True)
class ControlNumbers:
    interchange: int
    group: int
    transaction_set: int


def allocate_control_numbers(*, supplier_id: int) -> ControlNumbers:
    """The next ISA13/GS06/ST02 for messages to this supplier; each strictly greater than the last.

    The supplier row is locked for the rest of the caller's transaction, so two concurrent senders
    never get the same number and a rolled-back send gives its numbers back.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("allocate_control_numbers must run inside the transaction that uses the numbers")
    # One statement: the UPDATE locks the row, and RETURNING hands back the numbers it moved past.
    largest = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    table = Supplier._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET next_isa_control = next_isa_control + 1, next_gs_control = next_gs_control + 1, "
            f"next_st_control = next_st_control + 1 WHERE id = %s "
            f"AND {largest}(next_isa_control, next_gs_control, next_st_control) <= %s "
            "RETURNING next_isa_control - 1, next_gs_control - 1, next_st_control - 1",
            [supplier_id, X12_MAX_CONTROL],
        )
        row = cursor.fetchone()
    if row is None:
        supplier = Supplier.objects.get(pk=supplier_id)  # DoesNotExist for a wrong id, as before
        raise ControlNumbersExhausted(
            f"Supplier {supplier.code} has used every X12 control number up to {X12_MAX_CONTROL}.",
            supplier=supplier.code,
        )
    return ControlNumbers(*row)


#: What `outbound_store` writes: every column but the id.
OUTBOUND_COLUMNS = [f.attname for f in OutboundMessage._meta.concrete_fields if not f.primary_key]


def outbound_store(
    *,
    supplier: Supplier | None,
    kind: str,
    body: bytes,
    numbers: ControlNumbers,
    purchase_order: PurchaseOrder | None = None,
    inbound_message: InboundMessage | None = None,
) -> OutboundMessage:
    """Record an X12 message we produced, in the caller's transaction (one INSERT ... RETURNING id)."""
    message = outbound_message(
        supplier=supplier,
        kind=kind,
        body=body,
        numbers=numbers,
        purchase_order=purchase_order,
        inbound_message=inbound_message,
    )
    return raw_sql.create(message, OUTBOUND_COLUMNS)


def outbound_message(
    *,
    supplier: Supplier | None,
    kind: str,
    body: bytes,
    numbers: ControlNumbers,
    purchase_order: PurchaseOrder | None = None,
    inbound_message: InboundMessage | None = None,
) -> OutboundMessage:
    """The row of a message we produced, not yet written (`outbound_store` writes one; `outbound_insert`
    gives the statement writing several, for a caller that sends it with its other writes)."""
    return OutboundMessage(
        supplier=supplier,
        kind=kind,
        body=body,
        sha256=InboundMessage.checksum(body),
        isa_control=str(numbers.interchange),
        gs_control=str(numbers.group),
        st_control=str(numbers.transaction_set),
        purchase_order=purchase_order,
        inbound_message=inbound_message,
        created_at=timezone.now(),
    )


def outbound_insert(messages: list[OutboundMessage]) -> raw_sql.Statement:
    """One INSERT of `outbound_message` rows (at least one; no ids read back: a 997 for every inbound
    interchange is written this way, with the message's outcome)."""
    return raw_sql.insert_statement(
        OutboundMessage, OUTBOUND_COLUMNS, [[getattr(m, name) for name in OUTBOUND_COLUMNS] for m in messages]
    )


def our_x12_identity() -> tuple[str, str]:
    return settings.SCM_X12_QUALIFIER, settings.SCM_X12_ID
