"""The test factories create through the services: the rows exist and their events were recorded."""

import pytest

from scm.events.store import read_stream
from tests.factories import (
    CarrierFactory,
    CustomerFactory,
    ItemFactory,
    LocationFactory,
    OrderFactory,
    PurchaseOrderFactory,
    SupplierFactory,
)

pytestmark = pytest.mark.django_db


def test_master_data_factories_record_their_defined_events():
    customer, supplier, carrier = CustomerFactory(), SupplierFactory(), CarrierFactory(is_default=True)
    item, location = ItemFactory(), LocationFactory()
    assert [e.type for e in read_stream(f"customer-{customer.code}")] == ["CustomerDefined"]
    assert [e.type for e in read_stream(f"supplier-{supplier.code}")] == ["SupplierDefined"]
    assert [e.type for e in read_stream(f"carrier-{carrier.code}")] == ["CarrierDefined"]
    assert [e.type for e in read_stream(f"item-{item.sku}")] == ["ItemDefined"]
    assert [e.type for e in read_stream(f"location-{location.code}")] == ["LocationDefined"]
    assert carrier.is_default and supplier.isa_id == supplier.code[-15:]
    assert CustomerFactory().code != customer.code


def test_order_factory_creates_an_order_through_order_create(unique):
    sku = ItemFactory(sku=f"OF-{unique}").sku
    order = OrderFactory(customer=CustomerFactory(code=f"OF-{unique}"), lines=[{"sku": sku, "qty": 4}])
    assert (order.status, order.customer.code) == ("CREATED", f"OF-{unique}")
    assert [(line.sku, line.ordered) for line in order.lines.all()] == [(sku, 4)]
    assert [e.type for e in read_stream(order.stream)] == ["OrderCreated"]


def test_purchase_order_factory_creates_and_optionally_sends():
    draft, sent = PurchaseOrderFactory(), PurchaseOrderFactory(send=True)
    assert (draft.status, sent.status) == ("DRAFT", "SENT")
    assert [e.type for e in read_stream(sent.stream)] == ["PurchaseOrderCreated", "PurchaseOrderSent"]
