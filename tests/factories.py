"""Master data for tests, created through the real services so events are recorded as in production.

Every factory takes a unique suffix-friendly key; tests pass `unique` so tests sharing a committed
database never collide.
"""

from __future__ import annotations

import factory

from inventory import services as inventory
from inventory.models import Item, Location


class ItemFactory(factory.Factory):
    class Meta:
        model = Item

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.LazyAttribute(lambda o: f"Item {o.sku}")
    pack_size = 1
    lead_time_days = 7

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        sku = kwargs.pop("sku")
        return inventory.item_upsert(sku=sku, **kwargs)


class LocationFactory(factory.Factory):
    class Meta:
        model = Location

    code = factory.Sequence(lambda n: f"WH-{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    kind = "warehouse"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        code = kwargs.pop("code")
        return inventory.location_upsert(code=code, **kwargs)


def stocked(unique: str, *, on_hand: int = 0, sku: str = "A", location: str = "WH1") -> tuple[str, str]:
    """An item and a warehouse (codes made unique), with `on_hand` received; returns (sku, location)."""
    item = ItemFactory(sku=f"{sku}-{unique}")
    place = LocationFactory(code=f"{location}-{unique}")
    if on_hand:
        inventory.stock_receive(sku=item.sku, location=place.code, qty=on_hand, reference="opening stock")
    return item.sku, place.code
