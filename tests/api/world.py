"""One of everything, made through the API: two suppliers (A and B) with their own part numbers,
purchase orders and inbound messages, and one item, location, customer, order, carrier, shipment and
webhook endpoint. Used by the access matrix and the fuzz tests:

    from tests.api.world import url_for, world  # noqa: F401 - the fixture
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from inventory import services as inventory
from scm.roles import INTEGRATION, OPS, PLANNER
from shipments import services as shipments
from shipments.services import ShipmentLineSpec
from tests.api.helpers import client_for


@dataclass
class World:
    """Two suppliers with their own objects, and one of everything else, made through the API."""

    clients: dict[str, APIClient]
    objects: dict[str, dict[str, str]]  # "A" / "B" -> path parameter name -> value
    supplier_codes: dict[str, str]


def _created(response, status: int = 201) -> dict:
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def world(unique, settings) -> World:
    settings.TMS_BASE_URL = ""
    ops = client_for(f"ops-{unique}", OPS)
    shared = _shared_objects(ops, unique)
    objects, codes, clients = {}, {}, {"ops": ops}
    for name in ("A", "B"):
        codes[name] = f"S{name}{unique}"
        objects[name] = {**shared, **_supplier_objects(ops, codes[name], f"PO{name}-{unique}", shared)}
        clients[name] = client_for(f"sup{name}-{unique}", INTEGRATION, supplier=codes[name])
    clients["anonymous"] = APIClient()
    clients["planner"] = client_for(f"planner-{unique}", PLANNER)
    clients["integration"] = client_for(f"int-{unique}", INTEGRATION)
    return World(clients=clients, objects=objects, supplier_codes=codes)


def _shared_objects(ops: APIClient, unique: str) -> dict[str, str]:
    """An item stocked at a location, a customer with an order, a carrier with a planned shipment, a webhook."""
    sku, dc, customer, carrier = f"M-{unique}", f"MDC-{unique}", f"MC-{unique}", f"MCAR-{unique}"
    _created(ops.post("/api/v1/items/", {"sku": sku, "name": "Matrix item"}, format="json"))
    _created(ops.post("/api/v1/locations/", {"code": dc, "name": "Matrix DC", "kind": "warehouse"}, format="json"))
    inventory.stock_receive(sku=sku, location=dc, qty=50, reference="opening stock")
    _created(ops.post("/api/v1/customers/", {"code": customer, "name": "Matrix customer"}, format="json"))
    order = _created(
        ops.post(
            "/api/v1/orders/",
            {"customer": customer, "external_id": f"mx-{unique}", "lines": [{"sku": sku, "qty": 2}]},
            format="json",
        )
    )
    _created(ops.post("/api/v1/carriers/", {"code": carrier, "name": "Matrix carrier"}, format="json"))
    holder = f"matrix-{unique}/line-1"
    inventory.stock_reserve(sku=sku, location=dc, qty=3, holder=holder)
    shipment = shipments.shipment_plan(
        order_ref=f"order-matrix-{unique}",
        plan_key="m1",
        from_location=dc,
        lines=[ShipmentLineSpec(sku, 3, holder)],
        carrier=carrier,
        promised_date=timezone.localdate(),
    )
    endpoint = _created(
        ops.post("/api/v1/webhooks/", {"url": "https://hooks.example.com/x", "secret": "s" * 20}, format="json")
    )
    return {
        "sku": sku,
        "order_id": str(order["id"]),
        "shipment_id": str(shipment.pk),
        "endpoint_id": str(endpoint["id"]),
        "delivery_id": "1",
        "customers": customer,
        "carriers": carrier,
        "locations": dc,
    }


def _supplier_objects(ops: APIClient, code: str, po_number: str, shared: dict[str, str]) -> dict[str, str]:
    """A supplier with a part number, a DRAFT purchase order and one inbound message of its own."""
    _created(ops.post("/api/v1/suppliers/", {"code": code, "name": f"Supplier {code}"}, format="json"))
    mapping = _created(
        ops.post("/api/v1/supplier-items/", {"supplier": code, "supplier_part": "P-1", "sku": shared["sku"]},
                 format="json")  # fmt: skip
    )
    lines = [{"sku": shared["sku"], "qty": 5, "unit_price": "1.00"}]
    po = _created(
        ops.post(
            "/api/v1/purchase-orders/",
            {"number": po_number, "supplier": code, "destination": shared["locations"], "lines": lines},
            format="json",
        )
    )
    message = _created(
        ops.post(f"/api/v1/inbound-messages/?supplier={code}", f'{{"from": "{code}"}}'.encode(),
                 content_type="application/json"),  # fmt: skip
        202,
    )
    profile_url = f"/api/v1/supplier-profiles/{code}/856/"
    _created(ops.put(profile_url, {"settings": {"unit_aliases": {"CS": "CA"}}}, format="json"))
    run = _created(ops.post("/api/v1/reprocess-runs/", {"supplier": code, "reason_code": "x12_invalid_date"},
                            format="json"), 202)  # fmt: skip
    return {
        "suppliers": code,
        "item_id": str(mapping["id"]),
        "po_id": str(po["id"]),
        "message_id": str(message["id"]),
        "supplier": code,
        "document_type": "856",
        "version": "1",
        "run_id": str(run["id"]),
    }


def url_for(path: str, objects: dict[str, str]) -> str:
    """The path with every {parameter} filled from `objects` ({code} depends on the collection)."""
    collection = path.removeprefix("/api/v1/").split("/")[0]

    def value(match: re.Match) -> str:
        name = match.group(1)
        return objects[collection] if name == "code" else objects[name]

    return re.sub(r"\{(\w+)\}", value, path)
