"""Items and locations: create or change one by its key, recording what it became."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from inventory.models import Item, Location
from scm.errors import ValidationFailed
from scm.events.store import NewEvent, append


def _clean(instance) -> None:
    try:
        instance.full_clean()
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        first = next(iter(fields.items()))
        raise ValidationFailed(f"{first[0]}: {first[1][0]}", **fields) from None


ITEM_FIELDS = (
    "name",
    "unit",
    "pack_size",
    "active",
    "reorder_point",
    "safety_stock",
    "min_qty",
    "max_qty",
    "lead_time_days",
)


LOCATION_FIELDS = ("name", "kind", "active", "allocation_rank")


def _upsert_master(model, *, key_field: str, key: str, fields: dict, allowed: tuple[str, ...], event_type: str):
    """Create or change one master-data row by its key and record `event_type` with the result."""
    label = model._meta.verbose_name
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValidationFailed(f"Unknown {label} fields: {', '.join(sorted(unknown))}.")
    if not isinstance(key, str) or not key.strip() or key != key.strip():
        raise ValidationFailed(
            f"A {label} {key_field} must be non-blank without surrounding spaces.", **{key_field: key}
        )
    row = model.objects.select_for_update().filter(**{key_field: key}).first() or model(**{key_field: key})
    for name, value in fields.items():
        setattr(row, name, value)
    if not row.name:
        raise ValidationFailed(f"A {label} needs a name.", name="")
    _clean(row)
    row.save()
    payload = {key_field: key, **{name: getattr(row, name) for name in allowed}}
    append(f"{label}-{key}", [NewEvent(type=event_type, payload=payload)])
    return row


@transaction.atomic
def item_upsert(*, sku: str, **fields) -> Item:
    """Create or change an item; records ItemDefined with the resulting master data."""
    return _upsert_master(Item, key_field="sku", key=sku, fields=fields, allowed=ITEM_FIELDS, event_type="ItemDefined")


@transaction.atomic
def location_upsert(*, code: str, **fields) -> Location:
    """Create or change a location; records LocationDefined."""
    return _upsert_master(
        Location, key_field="code", key=code, fields=fields, allowed=LOCATION_FIELDS, event_type="LocationDefined"
    )
