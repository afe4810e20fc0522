"""Orders API: customers (master data), sales orders (create, list, detail), the cancel and retry
actions, and each order's event history.

The status is read-only here; transitions are POST actions. Creating an order honours
`Idempotency-Key` twice over: the API layer replays the stored response while its record is
kept, and the key is also handed to `order_create`, which finds the first order by it for as long
as the order exists, so a client retrying after the API record was purged still gets its order
(200 with `Idempotent-Replayed: true`) instead of a duplicate.

Supplier-bound integration tokens see no customers or orders: those are not a supplier's data.
"""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.api.serializers import key_is_plausible
from inventory.api.views import AlreadyExists, errors
from orders import selectors, services
from orders.api.serializers import (
    CUSTOMER_MAX,
    CustomerCreateSerializer,
    CustomerInputSerializer,
    CustomerSerializer,
    OrderCancelSerializer,
    OrderCreateSerializer,
    OrderEventsSerializer,
    OrderQuerySerializer,
    OrderSerializer,
    OrderSummarySerializer,
)
from orders.exceptions import OrderNotFound
from orders.models import Customer, SalesOrder
from scm.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from scm.api.idempotency import REPLAYED_HEADER, idempotent
from scm.api.pagination import CursorPagination
from scm.api.parsers import JSONParser
from scm.api.permissions import ALL_ROLES, OPS_ONLY, RolePermission
from scm.errors import NotFound
from scm.roles import INTEGRATION, PLANNER
from scm.validation import MAX_ID

# SalesOrder.idempotency_key holds 200 characters; the API accepts keys up to 255.
ORDER_KEY_MAX = 200


class CustomerNotFound(NotFound):
    code = "customer_not_found"

    def __init__(self, code: str) -> None:
        super().__init__(f"No customer {code!r}.", code=code)


class _Json:
    parser_classes = [JSONParser]


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


# --- Customers --------------------------------------------------------------------------------


def _customers() -> QuerySet[Customer]:
    return selectors.customers()


def _customer(code: str) -> Customer:
    found = _customers().filter(code=code).first() if key_is_plausible(code, CUSTOMER_MAX) else None
    if found is None:
        raise CustomerNotFound(code)
    return found


@extend_schema_view(get=extend_schema(summary="List customers", description="Every customer, by code."))
class CustomerListView(_Json, generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": OPS_ONLY}
    supplier_grants: dict = {}
    serializer_class = CustomerSerializer

    def get_queryset(self) -> QuerySet[Customer]:
        return _customers()

    @extend_schema(
        summary="Create a customer",
        request=CustomerCreateSerializer,
        responses={201: CustomerSerializer, **errors(e409="A customer with this code exists (`already_exists`).")},
    )
    def post(self, request):
        data = CustomerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        code = data.validated_data["code"]
        if _customers().filter(code=code).exists():
            raise AlreadyExists(f"Customer {code!r} exists; change it with PUT or PATCH /customers/{code}/.", code=code)
        customer = services.customer_upsert(**data.validated_data)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetailView(_Json, APIView):
    """One customer by code. PUT creates or replaces, PATCH changes some fields, DELETE deactivates."""

    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "put": OPS_ONLY, "patch": OPS_ONLY, "delete": OPS_ONLY}
    supplier_grants: dict = {}

    @extend_schema(summary="Read a customer", responses={200: CustomerSerializer})
    def get(self, request, code: str):
        return Response(CustomerSerializer(_customer(code)).data)

    @extend_schema(
        summary="Create or replace a customer",
        description="201 when the customer was created, 200 when replaced.",
        request=CustomerInputSerializer,
        responses={200: CustomerSerializer, 201: CustomerSerializer},
    )
    def put(self, request, code: str):
        data = CustomerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = key_is_plausible(code, CUSTOMER_MAX) and _customers().filter(code=code).exists()
        if not existed:
            CustomerCreateSerializer(data={"code": code, **data.validated_data}).is_valid(raise_exception=True)
        customer = services.customer_upsert(code=code, **data.validated_data)
        return Response(
            CustomerSerializer(customer).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Change a customer", request=CustomerInputSerializer(partial=True), responses={200: CustomerSerializer}
    )
    def patch(self, request, code: str):
        current = _customer(code)
        data = CustomerInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = {"name": current.name, "active": current.active, **data.validated_data}
        customer = services.customer_upsert(code=code, **fields)
        return Response(CustomerSerializer(customer).data)

    @extend_schema(
        summary="Deactivate a customer",
        description="The customer stays with `active: false`; new orders for it are refused.",
        responses={204: None},
    )
    def delete(self, request, code: str):
        current = _customer(code)
        services.customer_upsert(code=code, name=current.name, active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Orders -----------------------------------------------------------------------------------


def _order_id(order_id: int) -> int:
    if order_id > MAX_ID:
        raise OrderNotFound(order_id)
    return order_id


def _order(order_id: int) -> SalesOrder:
    order = selectors.order_detail(order_id=_order_id(order_id))
    if order is None:
        raise OrderNotFound(order_id)
    return order


def _order_key(request) -> str | None:
    """The request's Idempotency-Key as orders store it (keys too long for the column are hashed)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if not key or len(key) <= ORDER_KEY_MAX:
        return key or None
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@extend_schema_view(
    get=extend_schema(
        summary="List orders",
        description="Newest first, without lines (read one order for its lines). Cursor pagination: follow `next`.",
        parameters=[OrderQuerySerializer],
    )
)
class OrderListView(_Json, generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": (PLANNER, INTEGRATION)}
    supplier_grants: dict = {}
    serializer_class = OrderSummarySerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self) -> QuerySet[SalesOrder]:
        query = OrderQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.orders(**query.validated_data)

    @extend_schema(
        summary="Create an order",
        description="201 with the new order. A repeat with the same Idempotency-Key and body returns the first "
        "order (with `Idempotent-Replayed: true`) and creates nothing.",
        request=OrderCreateSerializer,
        responses={
            200: OpenApiResponse(OrderSerializer, description="Replayed: the order this Idempotency-Key created."),
            201: OrderSerializer,
            **errors(
                e400="Not valid, e.g. a SKU on two lines (`invalid`, `invalid_order`).",
                e409="The customer already has an order with this `external_id` (`duplicate_external_id`).",
                e422="Unknown customer or SKU (`unknown_customer`, `unknown_sku`), or the Idempotency-Key was "
                "used for a different request (`idempotency_key_reused`).",
            ),
        },
    )
    @idempotent
    def post(self, request):
        data = OrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order, created = services.order_create(**data.validated_data, idempotency_key=_order_key(request))
        body = OrderSerializer(selectors.order_detail(order_id=order.pk)).data
        if created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_200_OK, headers={REPLAYED_HEADER: "true"})


class OrderDetailView(APIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants: dict = {}

    @extend_schema(summary="Read an order", responses={200: OrderSerializer})
    def get(self, request, order_id: int):
        return Response(OrderSerializer(_order(order_id)).data)


class OrderCancelView(_Json, APIView):
    """Ops only."""

    permission_classes = [RolePermission]
    role_grants = {"post": OPS_ONLY}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Cancel an order",
        description="Releases every reservation; shipped units stay shipped. Refused for a fulfilled or cancelled "
        "order.",
        request=OrderCancelSerializer,
        responses={200: OrderSerializer, **errors(e409="The order is FULFILLED or CANCELLED (`illegal_transition`).")},
    )
    def post(self, request, order_id: int):
        data = OrderCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.order_cancel(order_id=_order_id(order_id), reason=data.validated_data["reason"], actor=_actor(request))
        return Response(OrderSerializer(_order(order_id)).data)


class OrderRetryView(APIView):
    """Ops only."""

    permission_classes = [RolePermission]
    role_grants = {"post": OPS_ONLY}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Retry a failed order",
        description="A FAILED order goes back to CREATED and its fulfillment workflow starts again.",
        request=None,
        responses={200: OrderSerializer, **errors(e409="The order is not FAILED (`illegal_transition`).")},
    )
    def post(self, request, order_id: int):
        services.order_retry(order_id=_order_id(order_id), actor=_actor(request))
        return Response(OrderSerializer(_order(order_id)).data)


class OrderEventsView(APIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants: dict = {}

    @extend_schema(
        summary="An order's events",
        description="The order's event stream, oldest first, and the same events as a readable history.",
        responses={200: OrderEventsSerializer},
    )
    def get(self, request, order_id: int):
        if not selectors.orders().filter(pk=_order_id(order_id)).exists():
            raise OrderNotFound(order_id)
        body = {
            "order": order_id,
            "events": selectors.order_events(order_id=order_id),
            "history": selectors.order_history(order_id=order_id),
        }
        return Response(OrderEventsSerializer(body).data)
