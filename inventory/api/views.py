"""Inventory API: items and locations (master data), balances (now and as of any past time),
stock movements (receipts, adjustments, transfers) and available-to-promise.

Every view is thin: an input serializer parses, one service or selector does the work, an output
serializer renders. Domain errors (unknown SKU, insufficient stock, ...) reach the client through
the project's exception handler in the one error shape.

Supplier-bound integration tokens may read items and locations (they map their part numbers to
our SKUs) but not stock: balances and movements are not any one supplier's business.
"""

from __future__ import annotations

from django.db import IntegrityError
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors, services
from inventory.api.serializers import (
    LOCATION_MAX,
    SKU_MAX,
    AdjustmentInputSerializer,
    AdjustmentSerializer,
    AtpQuerySerializer,
    AtpSerializer,
    BalanceQuerySerializer,
    BalanceSerializer,
    ItemCreateSerializer,
    ItemInputSerializer,
    ItemQuerySerializer,
    ItemSerializer,
    LocationCreateSerializer,
    LocationInputSerializer,
    LocationSerializer,
    ReceiptInputSerializer,
    ReceiptSerializer,
    TransferInputSerializer,
    TransferSerializer,
    key_is_plausible,
)
from inventory.models import Item, Location
from scm.api.idempotency import idempotent
from scm.api.parsers import JSONParser
from scm.api.permissions import ALL_ROLES, OPS_ONLY, SHARED, RolePermission
from scm.api.schema import ErrorSerializer
from scm.errors import Conflict, NotFound
from scm.events.store import RecordedEvent
from scm.roles import INTEGRATION, PLANNER


class ItemNotFound(NotFound):
    code = "item_not_found"

    def __init__(self, sku: str) -> None:
        super().__init__(f"No item with SKU {sku!r}.", sku=sku)


class LocationNotFound(NotFound):
    code = "location_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(f"No location {code!r}.", code=code)


class AlreadyExists(Conflict):
    code = "already_exists"


def errors(**described: str) -> dict[int, OpenApiResponse]:
    """OpenAPI error responses with endpoint-specific descriptions, e.g. `errors(e409="...")`."""
    return {int(code[1:]): OpenApiResponse(ErrorSerializer, description=text) for code, text in described.items()}


UNKNOWN_MASTER_DATA = "Unknown SKU or location (`unknown_sku`, `unknown_location`)."


def upsert_racing(service, *, key: dict, fields: dict, exists_error: Exception | None) -> tuple[object, bool]:
    """Run an upsert service; returns (row, lost_race).

    When a concurrent request created the same key first (our INSERT hit the unique index), a create
    answers `exists_error`; a create-or-replace runs once more as the update it now is (lost_race).
    """
    try:
        return service(**key, **fields), False
    except IntegrityError:
        if exists_error is not None:
            raise exists_error from None
        return service(**key, **fields), True


class _Json:
    """JSON bodies only: a form or multipart body answers 415 instead of being half-understood."""

    parser_classes = [JSONParser]


# --- Items ------------------------------------------------------------------------------------


def _item(sku: str) -> Item:
    found = selectors.items().filter(sku=sku).first() if key_is_plausible(sku, SKU_MAX) else None
    if found is None:
        raise ItemNotFound(sku)
    return found


@extend_schema_view(
    get=extend_schema(
        summary="List items",
        description="Every item (active and deactivated), by SKU.",
        parameters=[ItemQuerySerializer],
    )
)
class ItemListView(_Json, generics.ListAPIView):
    """Reads for every role (supplier-bound tokens too: they map their part numbers to SKUs); creating is for ops."""

    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": OPS_ONLY}
    supplier_grants = {"get": SHARED}
    serializer_class = ItemSerializer

    def get_queryset(self) -> QuerySet[Item]:
        query = ItemQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.items(search=query.validated_data.get("search"))

    @extend_schema(
        summary="Create an item",
        request=ItemCreateSerializer,
        responses={201: ItemSerializer, **errors(e409="An item with this SKU exists (`already_exists`).")},
    )
    def post(self, request):
        data = ItemCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        sku = fields.pop("sku")
        exists = AlreadyExists(f"Item {sku!r} exists; change it with PUT or PATCH /items/{sku}/.", sku=sku)
        if selectors.items().filter(sku=sku).exists():
            raise exists
        item, _ = upsert_racing(services.item_upsert, key={"sku": sku}, fields=fields, exists_error=exists)
        return Response(ItemSerializer(item).data, status=status.HTTP_201_CREATED)


class ItemDetailView(_Json, APIView):
    """One item by SKU. PUT creates or replaces, PATCH changes some fields, DELETE deactivates."""

    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "put": OPS_ONLY, "patch": OPS_ONLY, "delete": OPS_ONLY}
    supplier_grants = {"get": SHARED}

    @extend_schema(summary="Read an item", responses={200: ItemSerializer})
    def get(self, request, sku: str):
        return Response(ItemSerializer(_item(sku)).data)

    @extend_schema(
        summary="Create or replace an item",
        description="Fields left out take their defaults. 201 when the item was created, 200 when replaced.",
        request=ItemInputSerializer,
        responses={200: ItemSerializer, 201: ItemSerializer},
    )
    def put(self, request, sku: str):
        data = ItemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = key_is_plausible(sku, SKU_MAX) and selectors.items().filter(sku=sku).exists()
        if not existed:
            ItemCreateSerializer(data={"sku": sku, **data.validated_data}).is_valid(raise_exception=True)
        item, raced = upsert_racing(
            services.item_upsert, key={"sku": sku}, fields=data.validated_data, exists_error=None
        )
        created = not existed and not raced
        return Response(ItemSerializer(item).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(summary="Change an item", request=ItemInputSerializer(partial=True), responses={200: ItemSerializer})
    def patch(self, request, sku: str):
        _item(sku)
        data = ItemInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        item = services.item_upsert(sku=sku, **data.validated_data)
        return Response(ItemSerializer(item).data)

    @extend_schema(
        summary="Deactivate an item",
        description="The item stays (its history refers to it) with `active: false`; PATCH `active: true` revives it.",
        responses={204: None},
    )
    def delete(self, request, sku: str):
        _item(sku)
        services.item_upsert(sku=sku, active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Locations --------------------------------------------------------------------------------


def _locations() -> QuerySet[Location]:
    return selectors.locations()


def _location(code: str) -> Location:
    found = _locations().filter(code=code).first() if key_is_plausible(code, LOCATION_MAX) else None
    if found is None:
        raise LocationNotFound(code)
    return found


@extend_schema_view(get=extend_schema(summary="List locations", description="Every location, by code."))
class LocationListView(_Json, generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": OPS_ONLY}
    supplier_grants = {"get": SHARED}
    serializer_class = LocationSerializer

    def get_queryset(self) -> QuerySet[Location]:
        return _locations()

    @extend_schema(
        summary="Create a location",
        request=LocationCreateSerializer,
        responses={201: LocationSerializer, **errors(e409="A location with this code exists (`already_exists`).")},
    )
    def post(self, request):
        data = LocationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        code = fields.pop("code")
        exists = AlreadyExists(f"Location {code!r} exists; change it with PUT or PATCH /locations/{code}/.", code=code)
        if _locations().filter(code=code).exists():
            raise exists
        location, _ = upsert_racing(services.location_upsert, key={"code": code}, fields=fields, exists_error=exists)
        return Response(LocationSerializer(location).data, status=status.HTTP_201_CREATED)


class LocationDetailView(_Json, APIView):
    """One location by code. PUT creates or replaces, PATCH changes some fields, DELETE deactivates."""

    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "put": OPS_ONLY, "patch": OPS_ONLY, "delete": OPS_ONLY}
    supplier_grants = {"get": SHARED}

    @extend_schema(summary="Read a location", responses={200: LocationSerializer})
    def get(self, request, code: str):
        return Response(LocationSerializer(_location(code)).data)

    @extend_schema(
        summary="Create or replace a location",
        description="Fields left out take their defaults. 201 when the location was created, 200 when replaced.",
        request=LocationInputSerializer,
        responses={200: LocationSerializer, 201: LocationSerializer},
    )
    def put(self, request, code: str):
        data = LocationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = key_is_plausible(code, LOCATION_MAX) and _locations().filter(code=code).exists()
        if not existed:
            LocationCreateSerializer(data={"code": code, **data.validated_data}).is_valid(raise_exception=True)
        location, raced = upsert_racing(
            services.location_upsert, key={"code": code}, fields=data.validated_data, exists_error=None
        )
        created = not existed and not raced
        return Response(
            LocationSerializer(location).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )

    @extend_schema(
        summary="Change a location", request=LocationInputSerializer(partial=True), responses={200: LocationSerializer}
    )
    def patch(self, request, code: str):
        _location(code)
        data = LocationInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        location = services.location_upsert(code=code, **data.validated_data)
        return Response(LocationSerializer(location).data)

    @extend_schema(
        summary="Deactivate a location",
        description="The location stays with `active: false`; allocation no longer uses it.",
        responses={204: None},
    )
    def delete(self, request, code: str):
        _location(code)
        services.location_upsert(code=code, active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Balances and ATP -------------------------------------------------------------------------


def _balance_row(row) -> dict:
    """A current Balance row or a selectors.PastBalance, as the API shows both."""
    sku = row.item.sku if hasattr(row, "item") else row.sku
    location = row.location.code if hasattr(row.location, "code") else row.location
    return {
        "sku": sku,
        "location": location,
        "on_hand": row.on_hand,
        "reserved": row.reserved,
        "available": row.available,
        "inbound": row.inbound,
    }


@extend_schema(
    summary="List balances",
    description="Per SKU and location, by SKU then location. With `as_of` the balances are computed from the "
    "ledger as they stood at that time (with `known_at`: as far as movements recorded by then tell).",
    parameters=[BalanceQuerySerializer],
)
class BalanceListView(generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants: dict = {}
    serializer_class = BalanceSerializer

    def get_queryset(self):
        return selectors.balances()

    def list(self, request, *args, **kwargs):
        query = BalanceQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        if "as_of" in params:
            rows = selectors.balances_as_of(
                params["as_of"], known_at=params.get("known_at"), sku=params.get("sku"), location=params.get("location")
            )
        else:
            rows = selectors.balances(sku=params.get("sku"), location=params.get("location"))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(BalanceSerializer([_balance_row(row) for row in page], many=True).data)


class AtpView(APIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Available to promise",
        description="How many units of `sku` can be promised now, at which locations, and when the rest can come "
        "from inbound supply (by expected date).",
        parameters=[AtpQuerySerializer],
        responses={200: AtpSerializer, **errors(e422="Unknown SKU (`unknown_sku`).")},
    )
    def get(self, request):
        query = AtpQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        answer = selectors.available_to_promise(**query.validated_data)
        return Response(AtpSerializer(answer).data)


# --- Movements --------------------------------------------------------------------------------


def _event(event: RecordedEvent) -> dict:
    return {"position": event.position, "stream": event.stream, "type": event.type}


def _level(sku: str, location: str) -> dict:
    balance = selectors.balance_for(sku=sku, location=location)
    if balance is None:
        return {"on_hand": 0, "reserved": 0, "available": 0, "inbound": 0}
    return {
        "on_hand": balance.on_hand,
        "reserved": balance.reserved,
        "available": balance.available,
        "inbound": balance.inbound,
    }


class ReceiptView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": (PLANNER, INTEGRATION)}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Record a receipt",
        description="Units arrived at a location. With `inbound_reference` the matching inbound supply shrinks.",
        request=ReceiptInputSerializer,
        responses={
            201: ReceiptSerializer,
            **errors(
                e404="`inbound_reference` names no inbound supply of this SKU here (`inbound_supply_not_found`).",
                e409="More than the inbound supply still expects (`inbound_supply_too_small`).",
                e422=UNKNOWN_MASTER_DATA + " Or the Idempotency-Key was used for another request.",
            ),
        },
    )
    @idempotent
    def post(self, request):
        data = ReceiptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = services.stock_receive(**data.validated_data)
        payload = event.payload
        body = {
            "event": _event(event),
            "sku": payload["sku"],
            "location": payload["location"],
            "qty": payload["qty"],
            "reference": payload["reference"],
            "inbound_reference": payload["inbound_reference"],
            "inbound_received": payload["inbound_received"],
            "effective_at": event.occurred_at,
            "balance": _level(payload["sku"], payload["location"]),
        }
        return Response(ReceiptSerializer(body).data, status=status.HTTP_201_CREATED)


class AdjustmentView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": (PLANNER,)}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Record an adjustment",
        description="Correct on-hand stock by a signed quantity with a reason code.",
        request=AdjustmentInputSerializer,
        responses={
            201: AdjustmentSerializer,
            **errors(
                e409="On hand would fall below what is reserved (`below_reserved`).",
                e422=UNKNOWN_MASTER_DATA + " Or the Idempotency-Key was used for another request.",
            ),
        },
    )
    @idempotent
    def post(self, request):
        data = AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        event = services.stock_adjust(delta=fields.pop("qty"), **fields)
        payload = event.payload
        body = {
            "event": _event(event),
            **{key: payload[key] for key in ("sku", "location", "qty", "reason", "reference", "note")},
            "effective_at": event.occurred_at,
            "balance": _level(payload["sku"], payload["location"]),
        }
        return Response(AdjustmentSerializer(body).data, status=status.HTTP_201_CREATED)


class TransferView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": (PLANNER,)}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Record a transfer",
        description="Move units between two locations at once (dispatched and received in one step).",
        request=TransferInputSerializer,
        responses={
            201: TransferSerializer,
            **errors(
                e409="Not enough available at `from_location` (`insufficient_stock`).",
                e422=UNKNOWN_MASTER_DATA + " Or the Idempotency-Key was used for another request.",
            ),
        },
    )
    @idempotent
    def post(self, request):
        data = TransferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        events = services.stock_transfer(**fields)
        body = {
            "events": [_event(event) for event in events],
            "sku": fields["sku"],
            "from_location": fields["from_location"],
            "to_location": fields["to_location"],
            "qty": fields["qty"],
            "reference": fields["reference"],
            "effective_at": events[0].occurred_at,
            "from_balance": _level(fields["sku"], fields["from_location"]),
            "to_balance": _level(fields["sku"], fields["to_location"]),
        }
        return Response(TransferSerializer(body).data, status=status.HTTP_201_CREATED)
