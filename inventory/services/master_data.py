"""Items and locations: create or change one by its key, recording what it became."""

from __future__ import annotations

from django.db import transaction

from inventory.models import Item, Location
from scm.master_data import master_data_upsert

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


@transaction.atomic
def item_upsert(*, sku: str, **fields) -> Item:
    """Create or change an item; records ItemDefined with the resulting master data."""
    return master_data_upsert(
        Item,
        key_field="sku",
        key=sku,
        fields=fields,
        allowed=ITEM_FIELDS,
        event_type="ItemDefined",
        stream=f"item-{sku}",
    )


@transaction.atomic
def location_upsert(*, code: str, **fields) -> Location:
    """Create or change a location; records LocationDefined."""
    return master_data_upsert(
        Location,
        key_field="code",
        key=code,
        fields=fields,
        allowed=LOCATION_FIELDS,
        event_type="LocationDefined",
        stream=f"location-{code}",
    )
