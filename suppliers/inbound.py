"""The inbound message pipeline: store raw first, then process: APPLIED, QUARANTINED or DUPLICATE.

1. `inbound_message_store` writes the bytes exactly as received (with sha256, size, source, time)
   in a transaction of its own that commits before anything reads them. Whatever happens later,
   the message is kept.
2. `inbound_message_process` runs in one transaction:
   - lock the message row (two workers never process one message at once);
   - parse with the adapter for its format; identify the supplier; lock the supplier row (before
     any event is appended: its control numbers are needed for the replies);
   - claim its checksum within the supplier the message is attributed to (`MessageClaim`, UNIQUE
     "sha256:<supplier id>:<hex>"): a second copy waits for the first's transaction and then finds
     the claim taken → DUPLICATE. A quarantined message keeps its checksum claim, so a resend of the
     same bytes does not create a second quarantine entry. The scope is the supplier the message
     was received for when its sender does not match (a sender mismatch), so supplier A posting
     supplier B's bytes never makes B's own copy a duplicate of a message B cannot see;
   - in a savepoint: claim the message's identity (X12 sender + ISA13, or a JSON document number),
     plan every document (collecting all problems), lock, apply. Any problem rolls the savepoint
     back: the whole message applies or none of it does;
   - record the outcome, the replies (`interchange_acks`: a TA1 or CONTRL when the envelope is at fault
     or an acknowledgement is asked for; `x12_replies`: the 997 for every X12 interchange we could read,
     from a known supplier, prepared before the documents are applied so that nothing slow happens
     while the event log's append lock is held, and the 824 when it is readable but not applied for a
     business reason), and the event.
   The supplier's profiles (`suppliers.profiles`) are read once per message: mapping and applying
   see the same versions, and the message records them (`profile_versions`).
3. `inbound_messages_reprocess` runs step 2 again for quarantined messages after ops fixed master
   data or a mapping.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from scm import dispatch, raw_sql
from scm.errors import DomainError
from scm.events.context import event_context
from scm.events.store import NewEvent, append
from scm.observability import metrics
from suppliers import apply, x12_replies
from suppliers.adapters import formats
from suppliers.adapters.x12 import X12Error
from suppliers.documents import ParsedMessage
from suppliers.exceptions import (
    INTERNAL,
    MessageNotFound,
    MessageRejected,
    MessageTooLarge,
    Problem,
)
from suppliers.interchange_acks import interchange_acks_send
from suppliers.models import (
    IN,
    InboundMessage,
    MessageClaim,
    MessageFormat,
    OutboundMessage,
    Supplier,
)
from suppliers.profiles import MessageProfiles
from suppliers.profiles.selectors import DatabaseProfiles, profiles_for_message
from suppliers.services import outbound_insert

log = logging.getLogger(__name__)

#: The columns processing writes; the raw body is never written again (a trigger also refuses it).
PROCESSING_FIELDS = [
    "status",
    "errors",
    "summary",
    "document_types",
    "interchange_sender",
    "interchange_control",
    "duplicate_of",
    "attempts",
    "processed_at",
    "supplier",
    "profile_versions",
]
#: How often processing is retried in-process after a deadlock or serialization failure.
TRANSIENT_RETRIES = 3


def max_message_bytes() -> int:
    return settings.SUPPLIER_MESSAGE_MAX_BYTES


# --- Store ---------------------------------------------------------------------------------------


def inbound_message_store(
    *,
    body: bytes,
    source: str,
    supplier: Supplier | None = None,
    content_type: str = "",
    filename: str = "",
) -> InboundMessage:
    """Store a message byte-exact and commit it, before anything tries to understand it.

    Commits on its own: calling it inside another transaction is a programming error (the raw
    message must not depend on the caller's commit). Refuses only bodies above the
    documented limit (MessageTooLarge, 413); everything else is kept, however broken.
    """
    body = bytes(body)
    limit = max_message_bytes()
    if len(body) > limit:
        raise MessageTooLarge(size=len(body), limit=limit)
    message = InboundMessage(
        body=body,
        sha256=InboundMessage.checksum(body),
        size=len(body),
        source=source,
        supplier=supplier,
        format=formats.detect(body, content_type),
        content_type=(content_type or "")[:200],
        filename=(filename or "")[:500],
    )
    if transaction.get_connection().in_atomic_block:
        # Refused inside a caller's transaction (durable), except a test case's own.
        with transaction.atomic(durable=True):
            raw_sql.create(message, STORED_FIELDS)
    else:
        # One INSERT ... RETURNING id in autocommit mode commits by itself: no BEGIN and COMMIT round
        # trips (every message comes through here).
        raw_sql.create(message, STORED_FIELDS)
    return message


#: What `inbound_message_store` writes: every column but the id.
STORED_FIELDS = [f.attname for f in InboundMessage._meta.concrete_fields if not f.primary_key]


def enqueue_processing(message_id: int) -> None:
    """Queue processing of a stored message (inline when Celery runs eagerly).

    Called right after `inbound_message_store`, whose durable transaction has already committed,
    so the worker always finds the row; no on_commit hook is needed (or wanted: the caller holds
    no transaction).
    """
    from suppliers.tasks import process_inbound_message

    dispatch.enqueue(process_inbound_message, message_id, picked_up_by="the sweep of received messages")


def sweep_received_messages(*, older_than_seconds: int = 120, limit: int = 500) -> list[int]:
    """Queue processing again for messages still RECEIVED a while after they were stored (the broker was
    down when they arrived, or a worker died with the task). Processing is idempotent, so a message that
    is being processed right now is simply left as it is by the second task."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        InboundMessage.objects.filter(status=IN.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in ids:
        enqueue_processing(message_id)
    return ids


# --- Process -------------------------------------------------------------------------------------


class _Duplicate(Exception):
    def __init__(self, owner_id: int, key: str) -> None:
        self.owner_id, self.key = owner_id, key


def _claim(key: str, message: InboundMessage) -> int:
    """Insert the claim (ON CONFLICT DO NOTHING) and return the id of the message that owns it.

    On PostgreSQL a concurrent insert of the same key waits until the other transaction ends; if it
    committed, ours conflicts and we read its owner, so exactly one message wins.
    """
    key = key[:200]
    table = raw_sql.table(MessageClaim)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # One round trip when the claim is ours (the common case); the owner is read only on a conflict.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({connection.ops.quote_name('key')}, message_id, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING "
            "RETURNING message_id",
            [key, message.pk, now],
        )
        if cursor.fetchone() is not None:
            return message.pk
    return MessageClaim.objects.filter(key=key).values_list("message_id", flat=True).get()


def inbound_message_process(*, message_id: int, reprocess: bool = False) -> InboundMessage:
    """Process a RECEIVED message (or, with `reprocess`, a QUARANTINED one); other states are left
    as they are, so a redelivered task is harmless. Retries deadlocks a few times when it owns the
    transaction; inside a caller's transaction they propagate."""
    for attempt in range(1, TRANSIENT_RETRIES + 1):
        try:
            return _process_once(message_id, reprocess=reprocess)
        except OperationalError as exc:
            transient = getattr(exc.__cause__, "pgcode", None) in ("40P01", "40001")
            if not transient or attempt == TRANSIENT_RETRIES or transaction.get_connection().in_atomic_block:
                raise
            log.warning("inbound message %s: transient database error, retrying: %s", message_id, exc)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class _Outcome:
    status: str
    problems: list[Problem]
    summary: list[dict]
    duplicate_of: int | None = None
    same_bytes: bool = False  # a DUPLICATE by checksum: recorded without parsing results or replies
    replies: list[OutboundMessage] = field(default_factory=list)  # prepared before anything was appended


def _process_once(message_id: int, *, reprocess: bool) -> InboundMessage:
    with transaction.atomic():
        message = _locked_message(message_id)
        if message is None:
            raise MessageNotFound(message_id)
        allowed = (IN.RECEIVED, IN.QUARANTINED) if reprocess else (IN.RECEIVED,)
        if message.status not in allowed:
            return message
        first_time = message.attempts == 0
        message.attempts += 1
        with event_context(causation_id=message.stream):
            profiles = profiles_for_message(message)
            parsed = formats.parse(bytes(message.body), message.format, profiles=profiles)
            outcome = _apply(message, parsed, profiles, send_replies=first_time)
            if outcome.same_bytes:
                parsed = ParsedMessage(format=message.format)
            message.profile_versions = profiles.versions()
            _record(message, parsed, outcome, send_replies=first_time)
    return message


def _locked_message(message_id: int) -> InboundMessage | None:
    """The message row, locked, in one raw read (the ORM's query building costs more than the read)."""
    rows = raw_sql.fetch(
        InboundMessage, f"WHERE {raw_sql.table(InboundMessage)}.id = %s{raw_sql.for_update()}", [message_id]
    )
    return rows[0] if rows else None


def _lock_supplier(supplier_id: int) -> None:
    name = raw_sql.table(Supplier)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {name}.id FROM {name} WHERE {name}.id = %s{raw_sql.for_update()}", [supplier_id])


#: Where each EDI format names its sender, and the supplier field that holds that id.
SENDER_IDS = {
    MessageFormat.X12: ("isa_id", "ISA", "ISA06", "X12 id"),
    MessageFormat.EDIFACT: ("edifact_id", "UNB", "UNB02-1", "EDIFACT id"),
}


def _identify_supplier(
    message: InboundMessage, parsed: ParsedMessage, profiles: MessageProfiles
) -> tuple[Supplier | None, list[Problem]]:
    """Who sent it: the X12 or EDIFACT sender id, or the JSON/CSV `supplier` field, checked against the
    supplier the message was posted for (a supplier-bound token, a poll). A mismatch is refused, never guessed.

    A message received for a supplier is compared with that supplier only, before any lookup: whether
    the id or code belongs to someone else must not change the answer, and the reason never names
    another supplier (the sender would learn who else trades here)."""
    if parsed.format in SENDER_IDS:
        return _edi_sender(message.supplier, parsed, profiles)
    return _document_supplier(message.supplier, parsed)


def _edi_sender(
    bound: Supplier | None, parsed: ParsedMessage, profiles: MessageProfiles
) -> tuple[Supplier | None, list[Problem]]:
    """The supplier an X12 or EDIFACT envelope names as its sender (ISA06 / UNB02); the profiles' source
    already read it when the adapter named the sender (`DatabaseProfiles.supplier`), so it is not read twice."""
    if not parsed.sender_id:
        if bound is None and not parsed.problems:
            return None, [Problem(code="unknown_supplier", message="the interchange names no sender")]
        return bound, []
    field, segment, element, label = SENDER_IDS[parsed.format]
    if bound is not None and parsed.sender_id != getattr(bound, field):
        return bound, [
            Problem(
                code="sender_mismatch",
                message=f"{element} {parsed.sender_id!r} is not the {label} of supplier {bound.code}, for which "
                "the message was received",
                segment=segment,
                element=element,
                value=parsed.sender_id,
                path=segment,
            )
        ]
    source = profiles.source
    if isinstance(source, DatabaseProfiles):
        found = source.supplier(field, parsed.sender_id)
    else:
        found = Supplier.objects.filter(**{field: parsed.sender_id}).first()
    if found is None:
        return bound, [
            Problem(
                code="unknown_sender",
                message=f"{element} {parsed.sender_id!r} (qualifier {parsed.sender_qualifier}) is not the {label} "
                f"of any supplier; set the supplier's {field} and reprocess",
                segment=segment,
                element=element,
                value=parsed.sender_id,
                path=segment,
            )
        ]
    return found, []


def _document_supplier(bound: Supplier | None, parsed: ParsedMessage) -> tuple[Supplier | None, list[Problem]]:
    """The supplier a JSON or CSV document names in its `supplier` field."""
    code = parsed.supplier_code
    if code is None:
        if bound is None and not parsed.problems:
            return None, [
                Problem(
                    code="unknown_supplier",
                    message='the message names no supplier: give "supplier" in the document, post it with a '
                    "supplier-bound token, or use ?supplier=<code>",
                    path="supplier",
                )
            ]
        return bound, []
    if bound is not None and code != bound.code:
        return bound, [
            Problem(
                code="sender_mismatch",
                message=f'the document\'s "supplier" is not {bound.code}, for which the message was received',
                value=code,
                path="supplier",
            )
        ]
    found = Supplier.objects.filter(code=code).first()
    if found is None:
        return bound, [
            Problem(code="unknown_supplier", message=f"supplier {code!r} does not exist", value=code, path="supplier")
        ]
    return found, []


def _checksum_key(message: InboundMessage) -> str:
    """The checksum claim, scoped to the supplier the message is attributed to ("-": none yet)."""
    return f"sha256:{message.supplier_id or '-'}:{message.sha256}"


def _apply(
    message: InboundMessage, parsed: ParsedMessage, profiles: MessageProfiles, *, send_replies: bool
) -> _Outcome:
    supplier, problems = _identify_supplier(message, parsed, profiles)
    if supplier is not None:
        message.supplier = supplier
        profiles.bind_supplier(supplier.pk)
        # Locked before any append: the replies need its control numbers (store: locks first, appends last).
        if not (isinstance(profiles.source, DatabaseProfiles) and supplier.pk in profiles.source.locked):
            _lock_supplier(supplier.pk)
        if not supplier.active and not problems:
            problems = [
                Problem(code="supplier_inactive", message=f"supplier {supplier.code} is inactive", value=supplier.code)
            ]
    owner = _claim(_checksum_key(message), message)
    if owner != message.pk:
        return _Outcome(IN.DUPLICATE, [], [], duplicate_of=owner, same_bytes=True)
    # The 997 answers the syntax whatever the outcome: prepared now, before the documents append their
    # events, so that as little as possible happens while this transaction holds the event log's lock.
    ack = x12_replies.prepare_997(message, parsed) if send_replies and supplier is not None else None
    outcome = _outcome(message, parsed, profiles, supplier, parsed.problems + problems)
    outcome.replies = [ack] if ack is not None else []
    return outcome


def _outcome(
    message: InboundMessage,
    parsed: ParsedMessage,
    profiles: MessageProfiles,
    supplier: Supplier | None,
    problems: list[Problem],
) -> _Outcome:
    """Claim the message's identity, plan and apply its documents in a savepoint: APPLIED, or DUPLICATE
    or QUARANTINED with nothing of it applied."""
    if problems:
        return _Outcome(IN.QUARANTINED, problems, [])
    ctx = apply.Context(supplier=supplier, message=message, profiles=profiles)
    try:
        with transaction.atomic():
            for key in parsed.identity_keys:
                owner = _claim(f"{supplier.code}:{key}", message)
                if owner != message.pk:
                    raise _Duplicate(owner, key)
            plans = apply.plan_documents(parsed.documents, supplier, profiles)
            summary = apply.apply_plans(plans, ctx)
    except _Duplicate as duplicate:
        return _Outcome(IN.DUPLICATE, [], [], duplicate_of=duplicate.owner_id)
    except MessageRejected as rejected:
        return _Outcome(IN.QUARANTINED, rejected.problems, [])
    except X12Error as error:
        return _Outcome(IN.QUARANTINED, [Problem(code=f"x12_{error.reason}", message=error.message)], [])
    except DomainError as error:
        return _Outcome(
            IN.QUARANTINED,
            [Problem(code=error.code, message=f"applying the message failed: {error.message}", value=_first(error))],
            [],
        )
    return _Outcome(IN.APPLIED, [], summary)


def _first(error: DomainError) -> str | None:
    value = next(iter(error.fields.values()), None)
    return None if value is None else str(value)


def _record(message: InboundMessage, parsed: ParsedMessage, outcome: _Outcome, *, send_replies: bool) -> None:
    """Save the outcome, prepare the 997/824 replies and append the event (last: it takes the log lock)."""
    message.processed_at = timezone.now()
    message.document_types = parsed.document_types or message.document_types
    if parsed.sender_id:
        message.interchange_sender = f"{parsed.sender_qualifier}:{parsed.sender_id}"[:40]
        message.interchange_control = (parsed.interchange_control or "")[:20]
    if outcome.status == IN.APPLIED:
        message.mark_applied()
        message.summary = {"documents": outcome.summary, "warnings": parsed.warnings}
    elif outcome.status == IN.DUPLICATE:
        message.mark_duplicate()
        message.duplicate_of_id = outcome.duplicate_of
    else:
        message.mark_quarantined()
        message.errors = [problem.as_dict() for problem in outcome.problems]
    replies = list(outcome.replies)
    if send_replies and message.supplier is not None:
        interchange_acks_send(message=message, parsed=parsed, status=outcome.status)
        if outcome.status == IN.QUARANTINED and replies:
            replies += x12_replies.prepare_824(message, parsed, outcome.problems)
    # The replies and the message's own UPDATE (the FSM transition above set the status) go to the
    # database with the outcome event, in one round trip.
    writes = [outbound_insert(replies)] if replies else []
    writes.append(raw_sql.update_statement(message, PROCESSING_FIELDS))
    metrics.inc_on_commit(metrics.inbound_messages, status=str(message.status))
    if outcome.status == IN.QUARANTINED:
        metrics.inc_on_commit(metrics.messages_quarantined)
        _append_outcome(message, "SupplierMessageQuarantined", {"errors": message.errors}, writes)
    elif outcome.status == IN.APPLIED:
        _append_outcome(message, "SupplierMessageApplied", {"documents": outcome.summary}, writes)
    else:
        raw_sql.execute_together(writes)


def _append_outcome(
    message: InboundMessage, event_type: str, extra: dict, writes: Sequence[raw_sql.Statement] = ()
) -> None:
    payload = {
        "message_id": message.pk,
        "supplier": message.supplier.code if message.supplier_id else None,
        "format": message.format,
        "source": message.source,
        "sha256": message.sha256,
        "document_types": message.document_types,
        "attempt": message.attempts,
        **extra,
    }
    append(message.stream, [NewEvent(type=event_type, payload=payload)], writes_first=writes)


def inbound_message_crashed(*, message_id: int, error: BaseException) -> InboundMessage | None:
    """Quarantine a message whose processing raised something unexpected (a bug, not bad input), so it
    shows up for ops and can be reprocessed once the bug is fixed, instead of staying RECEIVED unseen."""
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status not in (IN.RECEIVED, IN.QUARANTINED):
            return message
        message.attempts += 1
        message.processed_at = timezone.now()
        message.mark_quarantined()
        message.errors = [
            Problem(
                code="internal_error",
                message=f"processing failed unexpectedly ({type(error).__name__}: {error}); reprocess after the fix",
                kind=INTERNAL,
            ).as_dict()
        ]
        message.save(update_fields=PROCESSING_FIELDS)
        metrics.inc_on_commit(metrics.messages_quarantined)
        with event_context(causation_id=message.stream):
            _append_outcome(message, "SupplierMessageQuarantined", {"errors": message.errors})
    return message


# --- Reprocess -----------------------------------------------------------------------------------


def inbound_message_reprocess(*, message_id: int, actor: str = "") -> InboundMessage:
    """Process a QUARANTINED message again (after master data, a mapping or the supplier's profile was
    fixed); the attempt is recorded (`suppliers.services.reprocessing`)."""
    from suppliers.services.reprocessing import message_reprocess

    return message_reprocess(message_id=message_id, actor=actor)


def inbound_messages_reprocess(
    *,
    message_ids: Iterable[int] | None = None,
    supplier: str | None = None,
    error_code: str | None = None,
    progress: Callable[[int, int, InboundMessage], None] | None = None,
) -> dict[str, int]:
    """Reprocess many quarantined messages, one transaction each (oldest first).

    Safe to interrupt and run again: each message commits on its own, and a message that left
    quarantine is skipped by the next run. Returns how many ended in each status.
    """
    rows = InboundMessage.objects.filter(status=IN.QUARANTINED)
    if message_ids is not None:
        rows = rows.filter(pk__in=list(message_ids))
    if supplier:
        rows = rows.filter(supplier__code=supplier)
    ids = list(rows.order_by("received_at", "pk").values_list("pk", flat=True))
    if error_code:
        ids = [
            pk
            for pk, errors in InboundMessage.objects.filter(pk__in=ids).values_list("pk", "errors")
            if any(e.get("code") == error_code for e in errors or [])
        ]
    counts = {IN.APPLIED: 0, IN.QUARANTINED: 0, IN.DUPLICATE: 0, "skipped": 0}
    for done, pk in enumerate(ids, start=1):
        try:
            message = inbound_message_reprocess(message_id=pk)
        except (DatabaseError, DomainError) as exc:
            log.warning("reprocessing inbound message %s failed: %s", pk, exc)
            counts["skipped"] += 1
            continue
        counts[str(message.status)] = counts.get(str(message.status), 0) + 1
        if progress is not None:
            progress(done, len(ids), message)
    return {str(key): value for key, value in counts.items()}


__all__ = [
    "OutboundMessage",
    "enqueue_processing",
    "inbound_message_process",
    "inbound_message_reprocess",
    "inbound_message_store",
    "inbound_messages_reprocess",
]
