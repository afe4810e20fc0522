"""Reading supplier profiles from the database: the source a message's `MessageProfiles` loads from,
and the reads the API, admin and dashboard make."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from suppliers.models import InboundMessage, Supplier
from suppliers.profiles.models import SupplierProfileVersion
from suppliers.profiles.reading import MessageProfiles


class DatabaseProfiles:
    """`ProfileSource` over the tables: one query per (supplier, document type) a message touches."""

    def supplier_for_sender(self, qualifier: str | None, sender_id: str) -> int | None:
        return Supplier.objects.filter(isa_id=sender_id).values_list("pk", flat=True).first()

    def current(self, supplier_id: int, document_type: str) -> tuple[int, dict] | None:
        row = (
            SupplierProfileVersion.objects.filter(supplier_id=supplier_id, document_type=document_type)
            .order_by("-version")
            .values_list("version", "settings")
            .first()
        )
        return (row[0], row[1]) if row else None


def profiles_for_message(message: InboundMessage) -> MessageProfiles:
    """The profiles of the supplier the message was received for (or, once known, its sender's).
    Two-digit years are read relative to the day the message was received (the century rule)."""
    return MessageProfiles(
        source=DatabaseProfiles(),
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
