"""Master data (items, locations, customers, suppliers, carriers) is upserted one way, written once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import models, transaction

from scm.errors import ValidationFailed
from scm.events.store import NewEvent, append
from scm.validation import clean_or_fail

M = TypeVar("M", bound=models.Model)


def master_data_upsert(
    model: type[M],
    *,
    key_field: str,
    key: str,
    fields: dict[str, Any],
    allowed: Sequence[str],
    event_type: str,
    stream: str,
    defaults: dict[str, Any] | None = None,
    check: Callable[[M], None] | None = None,
    validate_in_database: bool = True,
) -> M:
    """Create or change one master-data row by its key, in the caller's transaction.

    Refuses unknown fields and a blank or padded key, locks the row (or starts a new one with
    `defaults`), sets the fields, requires a name, runs the model's own `check`, validates the
    model (`validate_in_database=False` leaves uniqueness and constraints to the database), saves
    and appends `event_type` with the key and every allowed field. A row created concurrently with
    the same key raises IntegrityError (the caller decides: a conflict, or an update to retry).
    """
    label = model._meta.verbose_name
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValidationFailed(f"Unknown {label} fields: {', '.join(sorted(unknown))}.", fields=sorted(unknown))
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise ValidationFailed(
            f"A {label} {key_field} must be non-blank without surrounding spaces.", **{key_field: key}
        )
    row = model.objects.select_for_update().filter(**{key_field: key}).first()
    if row is None:
        row = model(**{key_field: key, **(defaults or {})})
    for name, value in fields.items():
        setattr(row, name, value)
    if not row.name:
        raise ValidationFailed(f"A {label} needs a name.", name="")
    if check is not None:
        check(row)
    clean_or_fail(row, validate_unique=validate_in_database, validate_constraints=validate_in_database)
    with transaction.atomic():
        row.save()  # a savepoint: a unique-key race (IntegrityError) leaves the caller's transaction usable
    payload = {key_field: key, **{name: getattr(row, name) for name in allowed}}
    append(stream, [NewEvent(type=event_type, payload=payload)])
    return row
