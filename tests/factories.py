"""Master data and documents for tests, created through the real services so events are recorded as
in production.

Tests sharing a committed database must never collide: pass keys built from `unique`, or let the
factories make random ones (never a sequence, which restarts with every run while committed rows stay).
"""

from __future__ import annotations

import uuid

import factory

from inventory import services as inventory
from inventory.models import Item, Location
from orders import services as orders
from orders.models import Customer, SalesOrder
from shipments import services as shipments
from shipments.models import Carrier
from suppliers import services as suppliers
from suppliers.models import PurchaseOrder, Supplier


def _key(prefix: str) -> factory.LazyFunction:
    return factory.LazyFunction(lambda: f"{prefix}-{uuid.uuid4().hex[:10].upper()}")


class ItemFactory(factory.Factory):
    class Meta:
        model = Item

    sku = _key("SKU")
    name = factory.LazyAttribute(lambda o: f"Item {o.sku}")
    pack_size = 1
    lead_time_days = 7

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return inventory.item_upsert(**kwargs)


class LocationFactory(factory.Factory):
    class Meta:
        model = Location

    code = _key("WH")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    kind = "warehouse"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return inventory.location_upsert(**kwargs)


class CustomerFactory(factory.Factory):
    class Meta:
        model = Customer

    code = _key("C")
    name = factory.LazyAttribute(lambda o: f"Customer {o.code}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return orders.customer_upsert(**kwargs)


class SupplierFactory(factory.Factory):
    """A supplier with an X12 id (its code, up to 15 characters) that sends X12, JSON and CSV."""

    class Meta:
        model = Supplier

    code = _key("SUP")
    name = factory.LazyAttribute(lambda o: f"Supplier {o.code}")
    isa_id = factory.LazyAttribute(lambda o: o.code[-15:])
    formats = factory.LazyFunction(lambda: ["x12", "json", "csv"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return suppliers.supplier_upsert(**kwargs)


class CarrierFactory(factory.Factory):
    class Meta:
        model = Carrier

    code = _key("CAR")
    name = factory.LazyAttribute(lambda o: f"Carrier {o.code}")
    service_levels = factory.LazyFunction(lambda: ["standard", "express"])
    tracking_url_template = "https://track.example/{tracking_number}"
    transit_days = 3

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return shipments.carrier_upsert(**kwargs)


class OrderFactory(factory.Factory):
    """A sales order, created (not allocated, workflow not started) through `order_create`.

    `lines` are {sku, qty}; without them the order gets one line of a new item.
    """

    class Meta:
        model = SalesOrder

    customer = factory.SubFactory(CustomerFactory)
    external_id = _key("SO")
    lines = factory.LazyFunction(lambda: [{"sku": ItemFactory().sku, "qty": 1}])

    @classmethod
    def _create(cls, model_class, *args, customer, **kwargs):
        code = customer.code if isinstance(customer, Customer) else customer
        order, _ = orders.order_create(customer=code, start_workflow=False, **kwargs)
        return order


class PurchaseOrderFactory(factory.Factory):
    """A DRAFT purchase order through `purchase_order_create`; `lines` are {sku, qty, unit_price}.
    `send=True` sends it too (builds its 850)."""

    class Meta:
        model = PurchaseOrder

    number = _key("PO")
    supplier = factory.SubFactory(SupplierFactory)
    destination = factory.SubFactory(LocationFactory)
    lines = factory.LazyFunction(lambda: [{"sku": ItemFactory().sku, "qty": 10, "unit_price": "2.50"}])

    @classmethod
    def _create(cls, model_class, *args, supplier, destination, send: bool = False, **kwargs):
        order = suppliers.purchase_order_create(
            supplier=supplier.code if isinstance(supplier, Supplier) else supplier,
            destination=destination.code if isinstance(destination, Location) else destination,
            **kwargs,
        )
        if send:
            suppliers.purchase_order_send(po_id=order.pk)
            order.refresh_from_db()
        return order


def stocked(unique: str, *, on_hand: int = 0, sku: str = "A", location: str = "WH1") -> tuple[str, str]:
    """An item and a warehouse (codes made unique), with `on_hand` received; returns (sku, location)."""
    item = ItemFactory(sku=f"{sku}-{unique}")
    place = LocationFactory(code=f"{location}-{unique}")
    if on_hand:
        inventory.stock_receive(sku=item.sku, location=place.code, qty=on_hand, reference="opening stock")
    return item.sku, place.code
