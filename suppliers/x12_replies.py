"""The X12 replies to an inbound interchange, prepared in its processing transaction: the 997 for every
interchange we could read (it answers the syntax, whatever happens to the contents) and the 824 when
readable sets were not applied for a business reason. Control numbers are allocated here (the supplier
row is already locked); the rows are written by the caller, with the message's outcome.
"""

from __future__ import annotations

from django.utils import timezone

from suppliers.adapters.x12 import Rejection824, X12Error, build_824, build_997
from suppliers.documents import ParsedMessage
from suppliers.exceptions import BUSINESS, Problem
from suppliers.models import InboundMessage, MessageFormat, OutboundKind, OutboundMessage
from suppliers.services import allocate_control_numbers, outbound_message


def prepare_997(message: InboundMessage, parsed: ParsedMessage) -> OutboundMessage | None:
    """The 997 for an X12 interchange we could read (never for one made only of 997s: acknowledgements
    are not acknowledged), with its control numbers allocated; not yet written."""
    interchange = parsed.interchange
    if parsed.format != MessageFormat.X12 or interchange is None:
        return None
    if not interchange.groups or all(group.functional_id == "FA" for group in interchange.groups):
        return None
    syntax = list(parsed.syntax_errors)
    numbers = allocate_control_numbers(supplier_id=message.supplier.pk)
    body = build_997(
        interchange,
        not syntax,
        syntax,
        interchange_control=numbers.interchange,
        group_control=numbers.group,
        created_at=timezone.now(),
    )
    return outbound_message(
        supplier=message.supplier, kind=OutboundKind.ACK_997, body=body, numbers=numbers, inbound_message=message
    )


def prepare_824(message: InboundMessage, parsed: ParsedMessage, problems: list[Problem]) -> list[OutboundMessage]:
    """The 824 of a quarantined interchange whose readable sets were not applied for a business reason
    (it goes with the 997): none when nothing is rejected."""
    syntax = list(parsed.syntax_errors)
    rejections = _rejections(parsed.interchange, problems, syntax)
    if not rejections:
        return []
    numbers = allocate_control_numbers(supplier_id=message.supplier.pk)
    body = build_824(
        parsed.interchange,
        rejections,
        interchange_control=numbers.interchange,
        group_control=numbers.group,
        set_control=numbers.transaction_set,
        created_at=timezone.now(),
    )
    return [
        outbound_message(
            supplier=message.supplier, kind=OutboundKind.ADVICE_824, body=body, numbers=numbers, inbound_message=message
        )
    ]


def _same(left: str | None, right: str) -> bool:
    if left is None:
        return False
    return int(left) == int(right) if left.isdigit() and right.isdigit() else left == right


def _rejections(interchange, problems: list[Problem], syntax: list[X12Error]) -> list[Rejection824]:
    """One TED per business problem of a set; sets the 997 accepted but that were not applied because
    another part of the interchange failed get one saying so (an interchange applies whole or not at all)."""
    syntax_sets = {(e.group_control, e.set_control) for e in syntax if e.set_control}
    group_level = {e.group_control for e in syntax if not e.set_control}
    business = [p for p in problems if p.kind == BUSINESS and p.set_control]
    rejections = []
    for group in interchange.groups:
        for tset in group.transaction_sets:
            key = (group.control_number, tset.control_number)
            if any(_same(g, group.control_number) and s == tset.control_number for g, s in syntax_sets):
                continue
            if any(_same(g, group.control_number) for g in group_level):
                continue
            mine = [p for p in business if _same(p.group_control, key[0]) and p.set_control == key[1]]
            for problem in mine[:20]:
                rejections.append(
                    Rejection824(
                        group_control=group.control_number,
                        set_control=tset.control_number,
                        reason=problem.message,
                        condition_code="006" if problem.code == "duplicate_document" else "024",
                        segment=problem.segment if problem.segment and len(problem.segment) <= 3 else None,
                        value=problem.value,
                    )
                )
            if not mine:
                others = "; ".join(p.message for p in problems)[:400]
                rejections.append(
                    Rejection824(
                        group_control=group.control_number,
                        set_control=tset.control_number,
                        reason=f"not applied: the interchange is applied whole and another part failed: {others}",
                    )
                )
    return rejections
