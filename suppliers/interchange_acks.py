"""Interchange acknowledgements: the X12 TA1 and the EDIFACT CONTRL, prepared for the sender of a message.

- **TA1** (an interchange holding only a TA1): rejected (``R``) with the note code of the fault when the
  interchange could not be read because of its envelope or structure (TA105 005 for a bad ISA05, 023 for
  a truncation, ...) or when IEA01 miscounts its groups (021); when the sender asks (ISA14 = 1) also for a
  good one: accepted (``A`` 000), accepted with errors when IEA02 differs from ISA13 (``E`` 001), or
  rejected as a duplicate interchange (``R`` 025). The 997 still answers the contents.
- **CONTRL**: on any syntax error (the interchange could not be read, a count or reference mismatch, a
  value a mapper could not read) rejecting the interchange or the messages concerned, with segment and
  element; when UNB09 = 1 also as a positive acknowledgement. Never for an interchange made only of
  CONTRL messages (acknowledgements are not acknowledged).

Both are `OutboundMessage`s with the supplier's next control numbers, in the processing transaction,
like the 997 (delivering them is the partner transport's job).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from suppliers.adapters.edifact import EdifactError, build_contrl
from suppliers.adapters.x12 import X12Error, build_ta1, ta1_note
from suppliers.documents import ParsedMessage
from suppliers.models import IN, InboundMessage, MessageFormat, OutboundKind, OutboundMessage, Supplier
from suppliers.services import allocate_control_numbers, our_x12_identity, outbound_store

log = logging.getLogger(__name__)

#: Errors that leave nobody to answer: nothing was read that names the sender.
UNANSWERABLE = frozenset({"empty", "not_x12", "not_edifact"})


def interchange_acks_send(*, message: InboundMessage, parsed: ParsedMessage, status: str) -> OutboundMessage | None:
    """Prepare the TA1 or CONTRL a processed message calls for (None when it calls for none).

    Runs in the processing transaction, after the supplier row is locked; the caller decides that
    replies are due (first processing, known supplier).
    """
    supplier = message.supplier
    if supplier is None or parsed.envelope is None:
        return None
    try:
        if parsed.format == MessageFormat.X12:
            return _ta1(message, parsed, status, supplier)
        if parsed.format == MessageFormat.EDIFACT:
            return _contrl(message, parsed, status, supplier)
    except (X12Error, EdifactError) as error:
        # The envelope cannot even be written back (no usable sender id, none on file): nothing to address.
        log.warning("inbound message %s: no interchange acknowledgement could be written: %s", message.pk, error)
    return None


def _ta1_status(parsed: ParsedMessage, status: str) -> tuple[str, str] | None:
    """TA104 and TA105 for a message, or None when no TA1 is due."""
    interchange = parsed.interchange
    if interchange is None:
        error = next((e for e in parsed.syntax_errors if isinstance(e, X12Error)), None)
        if error is None or error.reason in UNANSWERABLE:
            return None
        return "R", ta1_note(error)
    if any(error.reason == "group_count" for error in interchange.errors):
        return "R", "021"
    if not interchange.acknowledgment_requested:
        return None
    if status == IN.DUPLICATE:
        return "R", "025"
    return ("A", "000") if interchange.iea_matches else ("E", "001")


def _ta1(message: InboundMessage, parsed: ParsedMessage, status: str, supplier: Supplier) -> OutboundMessage | None:
    answer = _ta1_status(parsed, status)
    if answer is None:
        return None
    numbers = allocate_control_numbers(supplier_id=supplier.pk)
    body = build_ta1(
        parsed.envelope,
        acknowledgement=answer[0],
        note=answer[1],
        interchange_control=numbers.interchange,
        created_at=timezone.now(),
        sender=our_x12_identity(),
        receiver=(supplier.isa_qualifier or "ZZ", supplier.isa_id) if supplier.isa_id else None,
    )
    return outbound_store(
        supplier=supplier, kind=OutboundKind.ACK_TA1, body=body, numbers=numbers, inbound_message=message
    )


def _contrl(message: InboundMessage, parsed: ParsedMessage, status: str, supplier: Supplier) -> OutboundMessage | None:
    interchange = parsed.interchange
    header = parsed.envelope
    errors = [error for error in parsed.syntax_errors if isinstance(error, EdifactError)]
    if interchange is None:
        if not errors or errors[0].reason in UNANSWERABLE:
            return None
        received, extra = header, errors[:1]
    else:
        if interchange.messages and all(m.type == "CONTRL" for m in interchange.messages):
            return None
        received = interchange
        extra = [error for error in errors if not any(error is known for known in interchange.errors)]
        if status == IN.DUPLICATE and header.acknowledgement_requested:
            extra.append(
                EdifactError(
                    f"interchange {header.control_reference} was already received",
                    segment="UNB",
                    index=5,
                    value=header.control_reference,
                    reason="duplicate",
                )
            )
        if not extra and not interchange.errors and not header.acknowledgement_requested:
            return None
    numbers = allocate_control_numbers(supplier_id=supplier.pk)
    body = build_contrl(
        received,
        extra,
        interchange_control=numbers.interchange,
        message_reference=numbers.transaction_set,
        created_at=timezone.now(),
    )
    return outbound_store(
        supplier=supplier, kind=OutboundKind.CONTRL, body=body, numbers=numbers, inbound_message=message
    )
