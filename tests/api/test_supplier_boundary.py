"""Supplier-bound tokens see only their own: the findings of the security pass (issue 14), reproduced.

A token bound to one supplier used to read customers' shipments and change them (depart one,
deliver one, which fulfilled another customer's order). Each request below is now refused with 403
and nothing is written.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from inventory.models import Balance
from scm.events.models import Event
from scm.roles import INTEGRATION
from shipments import services
from shipments.models import Shipment, TrackingUpdate
from shipments.services import ShipmentLineSpec
from tests.api.helpers import assert_error, client_for
from tests.factories import stocked

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipment(unique, settings):
    from inventory import services as inventory

    settings.TMS_BASE_URL = ""
    carrier = services.carrier_upsert(code=f"SB-{unique}", name="Boundary carrier")
    sku, loc = stocked(unique, on_hand=10)
    holder = f"order-sb{unique[:4]}/line-1"
    inventory.stock_reserve(sku=sku, location=loc, qty=4, holder=holder)
    return services.shipment_plan(
        order_ref=f"order-sb-{unique}",
        plan_key="b1",
        from_location=loc,
        lines=[ShipmentLineSpec(sku, 4, holder)],
        carrier=carrier.code,
        promised_date=timezone.localdate() + timedelta(days=3),
    )


@pytest.fixture
def supplier_token(unique):
    return client_for(f"bound-{unique}", INTEGRATION, supplier=f"ACME-{unique}")


@pytest.mark.parametrize(
    "path",
    [
        "shipments/{id}/",
        "shipments/{id}/events/",
        "shipments/{id}/tracking/",
        "shipments/",
        "shipments/late/",
        "carrier-updates/unmatched/",
        "orders/",
        "inventory/balances/",
        "events/",
    ],
)
def test_a_supplier_bound_token_reads_no_customer_shipment_or_shared_data(supplier_token, shipment, path):
    response = supplier_token.get("/api/v1/" + path.format(id=shipment.pk))
    error = assert_error(response, 403, "permission_denied")
    assert error["message"] == "This token is bound to one supplier and may not use this operation."
    assert shipment.order_ref not in response.content.decode()


def test_a_supplier_bound_token_cannot_depart_a_customer_shipment(supplier_token, shipment):
    before = list(Balance.objects.filter(item__sku=shipment.lines.get().sku).values_list("on_hand", "reserved"))
    events = Event.objects.count()
    response = supplier_token.post(f"/api/v1/shipments/{shipment.pk}/depart/", {}, format="json")
    assert_error(response, 403, "permission_denied")
    assert Shipment.objects.get(pk=shipment.pk).status == "PLANNED"
    assert list(Balance.objects.filter(item__sku=shipment.lines.get().sku).values_list("on_hand", "reserved")) == before
    assert Event.objects.count() == events


def test_a_supplier_bound_token_cannot_deliver_a_customer_shipment(supplier_token, shipment):
    events = Event.objects.count()
    response = supplier_token.post(
        f"/api/v1/shipments/{shipment.pk}/tracking/",
        {"status": "DELIVERED", "occurred_at": timezone.now().isoformat()},
        format="json",
    )
    assert_error(response, 403, "permission_denied")
    assert Shipment.objects.get(pk=shipment.pk).status == "PLANNED"
    assert not TrackingUpdate.objects.filter(shipment_id=shipment.pk).exists()
    assert Event.objects.count() == events


def test_the_carrier_webhook_is_not_for_supplier_tokens(supplier_token, shipment):
    response = supplier_token.post(
        "/api/v1/carrier-updates/",
        {"tracking_number": shipment.tracking_number, "status": "DELIVERED", "occurred_at": timezone.now().isoformat()},
        format="json",
    )
    assert_error(response, 403, "permission_denied")
    assert not TrackingUpdate.objects.filter(tracking_number=shipment.tracking_number).exists()
