"""Reading supplier profiles from the database: the source a message's `MessageProfiles` loads from,
and the reads the API, admin and dashboard make."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from scm import raw_sql
from suppliers.models import IN, InboundMessage, Supplier
from suppliers.profiles.fixes import ProfileFix, fix_for
from suppliers.profiles.models import ReprocessAttempt, ReprocessRun, SupplierProfileVersion
from suppliers.profiles.reading import MessageProfiles


class DatabaseProfiles:
    """`ProfileSource` over the tables: one query per (supplier, document type) a message touches.
    One instance serves one message: the supplier rows it reads by sender id are kept, so the pipeline
    identifying the sender afterwards (`suppliers.inbound`) does not read them again.

    With `lock_senders` (a message received for no particular supplier, whose sender is the supplier
    it will be processed under) the row is locked as it is read: the lock the pipeline takes next
    anyway, in the same place of the lock order (after the message), one statement fewer. A message
    received for a supplier locks that one only (in `suppliers.inbound`), never a mismatched sender's."""

    #: The supplier field each syntax's sender id is matched against (as `inbound` identifies senders).
    SENDER_FIELDS = {"x12": "isa_id", "edifact": "edifact_id"}

    def __init__(self, *, lock_senders: bool = False) -> None:
        self.lock_senders = lock_senders
        self.locked: set[int] = set()
        self._suppliers: dict[tuple[str, str], Supplier | None] = {}
        self._without_profiles: set[int] = set()

    def supplier(self, field: str, sender_id: str) -> Supplier | None:
        """The supplier whose `field` (isa_id, edifact_id) is `sender_id`, read once per message, with
        whether it has any profile (most have none: their documents then need no profile read)."""
        key = (field, sender_id)
        if key not in self._suppliers:
            # Raw: the ORM's query building costs more than the read, once per inbound message.
            name, column = raw_sql.table(Supplier), connection.ops.quote_name(Supplier._meta.get_field(field).column)
            profiles = raw_sql.table(SupplierProfileVersion)
            lock = raw_sql.for_update(name) if self.lock_senders else ""
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {raw_sql.columns(Supplier)}, EXISTS (SELECT 1 FROM {profiles} "
                    f"WHERE {profiles}.supplier_id = {name}.id) FROM {name} WHERE {column} = %s "
                    f"ORDER BY {name}.code, {name}.id LIMIT 1{lock}",
                    [sender_id],
                )
                row = cursor.fetchone()
            found = raw_sql.instance(Supplier, row[:-1]) if row else None
            if found is not None:
                self.locked.update([found.pk] if self.lock_senders else [])
                self._without_profiles.update([] if row[-1] else [found.pk])
            self._suppliers[key] = found
        return self._suppliers[key]

    def supplier_for_sender(self, qualifier: str | None, sender_id: str, syntax: str = "x12") -> int | None:
        field = self.SENDER_FIELDS.get(syntax)
        if field is None:
            return None
        found = self.supplier(field, sender_id)
        return found.pk if found is not None else None

    def current(self, supplier_id: int, document_type: str) -> tuple[int, dict] | None:
        if supplier_id in self._without_profiles:
            return None
        # Raw, as `supplier`: once per inbound message and document type.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT version, settings FROM {raw_sql.table(SupplierProfileVersion)} "
                "WHERE supplier_id = %s AND document_type = %s ORDER BY version DESC LIMIT 1",
                [supplier_id, document_type],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        version, settings = row
        return version, json.loads(settings) if isinstance(settings, str) else settings


def profiles_for_message(message: InboundMessage) -> MessageProfiles:
    """The profiles of the supplier the message was received for (or, once known, its sender's).
    Two-digit years are read relative to the day the message was received (the century rule)."""
    return MessageProfiles(
        source=DatabaseProfiles(lock_senders=message.supplier_id is None),
        received_on=timezone.localdate(message.received_at),
        supplier_id=message.supplier_id,
    )


def profile_version(*, supplier: str, document_type: str, version: int | None = None) -> SupplierProfileVersion | None:
    """One version (the current one when `version` is None) of a supplier's profile."""
    rows = SupplierProfileVersion.objects.select_related("supplier").filter(
        supplier__code=supplier, document_type=document_type
    )
    if version is not None:
        return rows.filter(version=version).first()
    return rows.order_by("-version").first()


def profile_history(*, supplier: str, document_type: str) -> QuerySet[SupplierProfileVersion]:
    return (
        SupplierProfileVersion.objects.select_related("supplier")
        .filter(supplier__code=supplier, document_type=document_type)
        .order_by("-version")
    )


def current_profiles(*, supplier: str | None = None) -> QuerySet[SupplierProfileVersion]:
    """The newest version of every (supplier, document type) profile, by supplier code and type."""
    newest = SupplierProfileVersion.objects.filter(
        supplier_id=OuterRef("supplier_id"), document_type=OuterRef("document_type")
    ).order_by("-version")
    rows = SupplierProfileVersion.objects.select_related("supplier").filter(pk=Subquery(newest.values("pk")[:1]))
    if supplier:
        rows = rows.filter(supplier__code=supplier)
    return rows.order_by("supplier__code", "document_type")


# --- Quarantine reasons and bulk reprocess runs (the dashboard's ops fix loop) ---------------------


@dataclass(frozen=True)
class ReasonGroup:
    """Quarantined messages of one supplier sharing one reason code: what a bulk run takes."""

    supplier_id: int
    supplier_code: str
    code: str
    count: int
    example: dict
    fix: ProfileFix | None


def quarantine_reasons(*, limit: int = 5000) -> list[ReasonGroup]:
    """Per (supplier, reason code): how many quarantined messages, an example reason and the profile
    field that would fix it. Reads at most `limit` messages (oldest first)."""
    rows = (
        InboundMessage.objects.filter(status=IN.QUARANTINED, supplier__isnull=False)
        .order_by("received_at", "pk")
        .values_list("supplier_id", "supplier__code", "errors", "document_types")[:limit]
    )
    groups: dict[tuple[int, str], list] = {}
    for supplier_id, supplier_code, errors, document_types in rows:
        for code in dict.fromkeys(e.get("code") for e in errors or [] if e.get("code")):
            example = next(e for e in errors if e.get("code") == code)
            entry = groups.setdefault((supplier_id, code), [supplier_code, 0, example, document_types])
            entry[1] += 1
    return [
        ReasonGroup(
            supplier_id=supplier_id,
            supplier_code=supplier_code,
            code=code,
            count=count,
            example=example,
            fix=fix_for(example, document_types),
        )
        for (supplier_id, code), (supplier_code, count, example, document_types) in sorted(
            groups.items(), key=lambda item: (item[1][0], item[0][1])
        )
    ]


def reprocess_runs(*, limit: int = 20) -> QuerySet[ReprocessRun]:
    return ReprocessRun.objects.select_related("supplier").order_by("-id")[:limit]


def reprocess_run(*, run_id: int) -> ReprocessRun | None:
    return (
        ReprocessRun.objects.select_related("supplier")
        .prefetch_related(
            Prefetch("attempts", queryset=ReprocessAttempt.objects.select_related("message").defer("message__body"))
        )
        .filter(pk=run_id)
        .first()
    )


def message_attempts(*, message_id: int) -> QuerySet[ReprocessAttempt]:
    return ReprocessAttempt.objects.filter(message_id=message_id).order_by("id")
