"""Suppliers API: suppliers and their part numbers (master data) and purchase orders with their send /
receive / cancel / close actions (inbound messages: `suppliers.api.messages`; profiles and bulk
reprocess: `suppliers.api.profiles`).

A supplier-bound integration token reads its own supplier, part numbers and purchase orders, nothing
else (`supplier_grants`, OWN): every queryset is narrowed with `scope_to_bound_supplier` before the
lookup, so another supplier's order answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.api.serializers import key_is_plausible
from inventory.api.views import AlreadyExists, errors
from scm.api.idempotency import idempotent
from scm.api.pagination import CursorPagination
from scm.api.parsers import JSONParser
from scm.api.permissions import ALL_ROLES, OPS_ONLY, OWN, RolePermission
from scm.api.supplier_scope import may_act_for_supplier, scope_to_bound_supplier
from scm.errors import NotFound
from scm.roles import PLANNER
from scm.validation import could_be_id
from suppliers import selectors, services
from suppliers.api.serializers import (
    CODE_MAX,
    PurchaseOrderCreateSerializer,
    PurchaseOrderQuerySerializer,
    PurchaseOrderReceiveSerializer,
    PurchaseOrderSerializer,
    ReasonSerializer,
    SupplierCreateSerializer,
    SupplierInputSerializer,
    SupplierItemInputSerializer,
    SupplierItemQuerySerializer,
    SupplierItemSerializer,
    SupplierSerializer,
)
from suppliers.exceptions import (
    PurchaseOrderNotFound,
    SupplierNotFound,
    UnknownSupplier,
)
from suppliers.models import PurchaseOrder, Supplier, SupplierItem


class _Json:
    parser_classes = [JSONParser]


def id_or_404(value: int, error: type[NotFound]) -> int:
    if not could_be_id(value):
        raise error(value)
    return value


# --- Suppliers -----------------------------------------------------------------------------------


def _suppliers(request) -> QuerySet[Supplier]:
    return scope_to_bound_supplier(selectors.suppliers(), request.user, field="code")


def _supplier(request, code: str) -> Supplier:
    found = _suppliers(request).filter(code=code).first() if key_is_plausible(code, CODE_MAX) else None
    if found is None:
        raise SupplierNotFound(code)
    return found


@extend_schema_view(get=extend_schema(summary="List suppliers", description="Every supplier, by code."))
class SupplierListView(_Json, generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": OPS_ONLY}
    supplier_grants = {"get": OWN}
    serializer_class = SupplierSerializer

    def get_queryset(self) -> QuerySet[Supplier]:
        return _suppliers(self.request)

    @extend_schema(
        summary="Create a supplier",
        request=SupplierCreateSerializer,
        responses={201: SupplierSerializer, **errors(e409="The code or the X12 id is taken (`already_exists`).")},
    )
    def post(self, request):
        data = SupplierCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        code = fields.pop("code")
        if selectors.suppliers().filter(code=code).exists():
            raise AlreadyExists(f"Supplier {code!r} exists; change it with PUT or PATCH /suppliers/{code}/.", code=code)
        supplier = services.supplier_upsert(code=code, **fields)
        return Response(SupplierSerializer(supplier).data, status=status.HTTP_201_CREATED)


class SupplierDetailView(_Json, APIView):
    """One supplier by code. PUT creates or replaces, PATCH changes some fields, DELETE deactivates."""

    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "put": OPS_ONLY, "patch": OPS_ONLY, "delete": OPS_ONLY}
    supplier_grants = {"get": OWN}

    @extend_schema(summary="Read a supplier", responses={200: SupplierSerializer})
    def get(self, request, code: str):
        return Response(SupplierSerializer(_supplier(request, code)).data)

    @extend_schema(
        summary="Create or replace a supplier",
        request=SupplierInputSerializer,
        responses={
            200: SupplierSerializer,
            201: SupplierSerializer,
            **errors(e409="The X12 id belongs to another supplier (`conflict`)."),
        },
    )
    def put(self, request, code: str):
        data = SupplierInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = key_is_plausible(code, CODE_MAX) and selectors.suppliers().filter(code=code).exists()
        if not existed:
            SupplierCreateSerializer(data={"code": code, **request.data}).is_valid(raise_exception=True)
        supplier = services.supplier_upsert(code=code, **data.validated_data)
        return Response(
            SupplierSerializer(supplier).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Change a supplier",
        request=SupplierInputSerializer(partial=True),
        responses={200: SupplierSerializer, **errors(e409="The X12 id belongs to another supplier (`conflict`).")},
    )
    def patch(self, request, code: str):
        _supplier(request, code)
        data = SupplierInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        supplier = services.supplier_upsert(code=code, **data.validated_data)
        return Response(SupplierSerializer(supplier).data)

    @extend_schema(
        summary="Deactivate a supplier",
        description="The supplier stays (orders and messages refer to it) with `active: false`; its messages "
        "are quarantined and it is not polled until PATCH `active: true`.",
        responses={204: None},
    )
    def delete(self, request, code: str):
        _supplier(request, code)
        services.supplier_upsert(code=code, active=False)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Supplier items ------------------------------------------------------------------------------


class SupplierItemNotFound(NotFound):
    code = "supplier_item_not_found"

    def __init__(self, item_id: object) -> None:
        super().__init__(f"No supplier item {item_id}.", id=str(item_id))


def _supplier_items(request) -> QuerySet[SupplierItem]:
    return scope_to_bound_supplier(selectors.supplier_items(), request.user)


@extend_schema_view(
    get=extend_schema(
        summary="List supplier items",
        description="Supplier part number ↔ our SKU mappings; filter by `supplier` and `sku`.",
        parameters=[SupplierItemQuerySerializer],
    )
)
class SupplierItemListView(_Json, generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": OPS_ONLY}
    supplier_grants = {"get": OWN}
    serializer_class = SupplierItemSerializer

    def get_queryset(self) -> QuerySet[SupplierItem]:
        query = SupplierItemQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        rows = _supplier_items(self.request)
        if query.validated_data.get("supplier"):
            rows = rows.filter(supplier__code=query.validated_data["supplier"])
        if query.validated_data.get("sku"):
            rows = rows.filter(sku=query.validated_data["sku"])
        return rows

    @extend_schema(
        summary="Map a supplier part number to a SKU",
        description="Creates the mapping, or changes the SKU, pack size and lead time of an existing one (200).",
        request=SupplierItemInputSerializer,
        responses={
            201: SupplierItemSerializer,
            200: SupplierItemSerializer,
            **errors(e422="Unknown supplier or SKU (`unknown_supplier`, `unknown_sku`)."),
        },
    )
    def post(self, request):
        data = SupplierItemInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        if not _suppliers(request).filter(code=fields["supplier"]).exists():
            raise UnknownSupplier(fields["supplier"])
        existed = (
            selectors.supplier_items(supplier=fields["supplier"])
            .filter(supplier_part=fields["supplier_part"].strip())
            .exists()
        )
        mapping = services.supplier_item_upsert(**fields)
        return Response(
            SupplierItemSerializer(mapping).data, status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED
        )


class SupplierItemDetailView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "patch": OPS_ONLY, "delete": OPS_ONLY}
    supplier_grants = {"get": OWN}

    def _get(self, request, item_id: int) -> SupplierItem:
        found = _supplier_items(request).filter(pk=id_or_404(item_id, SupplierItemNotFound)).first()
        if found is None:
            raise SupplierItemNotFound(item_id)
        return found

    @extend_schema(summary="Read a supplier item", responses={200: SupplierItemSerializer})
    def get(self, request, item_id: int):
        return Response(SupplierItemSerializer(self._get(request, item_id)).data)

    @extend_schema(
        summary="Change a supplier item",
        request=SupplierItemInputSerializer(partial=True),
        responses={200: SupplierItemSerializer, **errors(e422="Unknown SKU (`unknown_sku`).")},
    )
    def patch(self, request, item_id: int):
        current = self._get(request, item_id)
        changes = SupplierItemInputSerializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        data = SupplierItemInputSerializer(
            data={
                "supplier": current.supplier.code,
                "supplier_part": current.supplier_part,
                "sku": current.sku,
                "pack_size": current.pack_size,
                "lead_time_days": current.lead_time_days,
                **{k: v for k, v in changes.validated_data.items() if k in ("sku", "pack_size", "lead_time_days")},
            }
        )
        data.is_valid(raise_exception=True)
        mapping = services.supplier_item_upsert(**data.validated_data)
        return Response(SupplierItemSerializer(mapping).data)

    @extend_schema(summary="Delete a supplier item", responses={204: None})
    def delete(self, request, item_id: int):
        current = self._get(request, item_id)
        services.supplier_item_delete(item_id=current.pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Purchase orders -----------------------------------------------------------------------------


def _orders(request) -> QuerySet[PurchaseOrder]:
    return scope_to_bound_supplier(selectors.purchase_orders(), request.user)


def _order(request, po_id: int) -> PurchaseOrder:
    found = _orders(request).filter(pk=id_or_404(po_id, PurchaseOrderNotFound)).first()
    if found is None:
        raise PurchaseOrderNotFound(po_id)
    return found


def _order_response(request, po_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(PurchaseOrderSerializer(_order(request, po_id)).data, status=code)


@extend_schema_view(
    get=extend_schema(
        summary="List purchase orders",
        description="Newest first; filter by `status` and `supplier`. Cursor-paginated.",
        parameters=[PurchaseOrderQuerySerializer],
    )
)
class PurchaseOrderListView(_Json, generics.ListAPIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES, "post": (PLANNER,)}
    supplier_grants = {"get": OWN}
    serializer_class = PurchaseOrderSerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self) -> QuerySet[PurchaseOrder]:
        query = PurchaseOrderQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        rows = _orders(self.request)
        if query.validated_data.get("status"):
            rows = rows.filter(status=query.validated_data["status"])
        if query.validated_data.get("supplier"):
            rows = rows.filter(supplier__code=query.validated_data["supplier"])
        return rows

    @extend_schema(
        summary="Create a purchase order (DRAFT)",
        description="Honours `Idempotency-Key`: a retry with the same key and body gets the first answer.",
        request=PurchaseOrderCreateSerializer,
        responses={
            201: PurchaseOrderSerializer,
            **errors(
                e409="The number is taken (`duplicate_purchase_order`).",
                e422="Unknown supplier, SKU or destination.",
            ),
        },
    )
    @idempotent
    def post(self, request):
        data = PurchaseOrderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        if not may_act_for_supplier(request.user, fields["supplier"]):
            raise PermissionDenied("This token acts for another supplier.")
        fields["lines"] = [dict(line) for line in fields["lines"]]
        order = services.purchase_order_create(source="api", **fields)
        return _order_response(request, order.pk, status.HTTP_201_CREATED)


class PurchaseOrderDetailView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"get": ALL_ROLES}
    supplier_grants = {"get": OWN}

    @extend_schema(summary="Read a purchase order", responses={200: PurchaseOrderSerializer})
    def get(self, request, po_id: int):
        return _order_response(request, po_id)


class PurchaseOrderSendView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": (PLANNER,)}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Send a purchase order (X12 850)",
        description="Builds the 850 with the supplier's next ISA/GS/ST control numbers, stores it (see "
        "`outbound`) and moves the order from DRAFT to SENT.",
        request=None,
        responses={
            200: PurchaseOrderSerializer,
            **errors(
                e409="The order is not a DRAFT (`purchase_order_state`).",
                e422="A value cannot be written as X12 (`x12_invalid`).",
            ),
        },
    )
    def post(self, request, po_id: int):
        services.purchase_order_send(po_id=_order(request, po_id).pk)
        return _order_response(request, po_id)


class PurchaseOrderReceiveView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": OPS_ONLY}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Receive goods against a purchase order",
        description="`lines` [{line_no, qty}]; without `lines` everything still expected is received. Stock moves "
        "from inbound to on hand at the order's destination.",
        request=PurchaseOrderReceiveSerializer,
        responses={
            200: PurchaseOrderSerializer,
            **errors(e409="The order is not SENT, ACKNOWLEDGED or PARTIALLY_RECEIVED (`purchase_order_state`)."),
        },
    )
    def post(self, request, po_id: int):
        data = PurchaseOrderReceiveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data.get("lines")
        services.purchase_order_receive(
            po_id=_order(request, po_id).pk,
            lines={line["line_no"]: line["qty"] for line in lines} if lines else None,
            reference=data.validated_data["reference"],
        )
        return _order_response(request, po_id)


class PurchaseOrderCancelView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": (PLANNER,)}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Cancel a purchase order",
        request=ReasonSerializer,
        responses={
            200: PurchaseOrderSerializer,
            **errors(e409="The order can no longer be cancelled, e.g. goods were received (`purchase_order_state`)."),
        },
    )
    def post(self, request, po_id: int):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.purchase_order_cancel(po_id=_order(request, po_id).pk, reason=data.validated_data["reason"])
        return _order_response(request, po_id)


class PurchaseOrderCloseView(_Json, APIView):
    permission_classes = [RolePermission]
    role_grants = {"post": (PLANNER,)}
    supplier_grants: dict = {}

    @extend_schema(
        summary="Close a purchase order",
        request=ReasonSerializer,
        responses={
            200: PurchaseOrderSerializer,
            **errors(e409="The order cannot be closed now (`purchase_order_state`)."),
        },
    )
    def post(self, request, po_id: int):
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.purchase_order_close(po_id=_order(request, po_id).pk, reason=data.validated_data["reason"])
        return _order_response(request, po_id)
