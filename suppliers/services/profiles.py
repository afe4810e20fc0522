"""Changing a supplier profile: every change is a new immutable version and a `SupplierProfileChanged`
event (stream `supplier-profile-<supplier>-<document type>`)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from scm.errors import Conflict, ValidationFailed
from scm.events.store import NewEvent, append
from suppliers.exceptions import SupplierNotFound
from suppliers.models import Supplier
from suppliers.profiles.models import SupplierProfileVersion, profile_stream
from suppliers.profiles.reading import DOCUMENT_TYPES, profile_document_type
from suppliers.profiles.settings import ProfileSettings


class ProfileVersionConflict(Conflict):
    code = "profile_version_conflict"

    def __init__(self, *, supplier: str, document_type: str, expected: int, current: int) -> None:
        super().__init__(
            f"The {document_type} profile of {supplier} is at version {current}, not {expected}: "
            "someone changed it meanwhile; read it again and reapply your change.",
            supplier=supplier,
            document_type=document_type,
            expected_version=expected,
            current_version=current,
        )


def document_type_or_error(code: str) -> str:
    document_type = profile_document_type(code or "")
    if document_type is None:
        raise ValidationFailed(
            f"{code!r} is not a document type with a profile ({', '.join(DOCUMENT_TYPES)}, or DESADV, ORDRSP, "
            "INVOIC, INVRPT).",
            field="document_type",
        )
    return document_type


@transaction.atomic
def supplier_profile_update(
    *,
    supplier: str,
    document_type: str,
    settings: dict[str, Any],
    actor: str = "",
    note: str = "",
    expected_version: int | None = None,
) -> tuple[SupplierProfileVersion, bool]:
    """Make `settings` the supplier's profile for `document_type` (856/855/810/846 or DESADV, ...).

    Validates first (ProfileInvalid names the field), locks the supplier row (so two editors get
    consecutive versions; UNIQUE (supplier, type, version) is the backstop), refuses a stale
    `expected_version` (ProfileVersionConflict, 409), and writes version N+1 with the event.
    Settings equal to the current version write nothing. Returns (version, created).
    """
    document_type = document_type_or_error(document_type)
    wanted = ProfileSettings.from_json(settings)
    locked = Supplier.objects.select_for_update().filter(code=supplier).first()
    if locked is None:
        raise SupplierNotFound(supplier)
    current = (
        SupplierProfileVersion.objects.filter(supplier=locked, document_type=document_type).order_by("-version").first()
    )
    number = current.version if current else 0
    if expected_version is not None and expected_version != number:
        raise ProfileVersionConflict(
            supplier=supplier, document_type=document_type, expected=expected_version, current=number
        )
    before = ProfileSettings.from_json(current.settings if current else None)
    changed = wanted.changed_fields(before)
    if current is not None and not changed:
        return current, False
    version = SupplierProfileVersion.objects.create(
        supplier=locked,
        document_type=document_type,
        version=number + 1,
        settings=wanted.to_json(),
        changed_fields=changed,
        note=note[:500],
        created_by=actor[:150],
    )
    payload = {
        "supplier": locked.code,
        "document_type": document_type,
        "version": version.version,
        "settings": version.settings,
        "changed_fields": changed,
        "note": version.note,
    }
    append(
        profile_stream(locked.code, document_type),
        [NewEvent(type="SupplierProfileChanged", payload=payload, metadata={"actor": actor} if actor else {})],
        expected_version=number,
    )
    return version, True
