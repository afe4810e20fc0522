"""Shipments API: thin views that validate, call one service or selector, and render.

Roles (scm.api.permissions): every role reads; carriers are written by ops; tracking updates and
departures are posted by integrations (carriers, WMS) and ops; planners and ops cancel. Supplier-bound
tokens may do nothing here: shipments carry customers' orders, no supplier's business.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from scm.api.pagination import CursorPagination
from scm.api.parsers import JSONParser
from scm.api.permissions import ALL_ROLES, OPS_ONLY, RolePermission
from scm.api.schema import error_responses
from scm.api.serializers import EventSerializer
from scm.roles import INTEGRATION, PLANNER
from shipments import selectors, services
from shipments.api.serializers import (
    CancelInputSerializer,
    CarrierInputSerializer,
    CarrierSerializer,
    CarrierUpdateInputSerializer,
    CarrierUpdateSerializer,
    DepartInputSerializer,
    LateQuerySerializer,
    LateShipmentSerializer,
    ShipmentQuerySerializer,
    ShipmentSerializer,
    TrackingInputSerializer,
    TrackingResultSerializer,
    TrackingUpdateSerializer,
)
from shipments.models import Shipment, TrackingUpdate, UpdateSource


class _Api:
    permission_classes = [RolePermission]
    supplier_grants: dict = {}
    parser_classes = [JSONParser]


# --- Carriers -----------------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(description="Carriers by code."))
class CarrierListView(_Api, generics.ListAPIView):
    role_grants = {"get": ALL_ROLES, "post": OPS_ONLY}
    serializer_class = CarrierSerializer
    pagination_class = CursorPagination
    ordering = "code"

    def get_queryset(self):
        return selectors.carriers()

    @extend_schema(request=CarrierInputSerializer, responses={201: CarrierSerializer, **error_responses(409)})
    def post(self, request):
        data = CarrierInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        carrier = services.carrier_create(**data.validated_data)
        return Response(CarrierSerializer(carrier).data, status=status.HTTP_201_CREATED)


class CarrierDetailView(_Api, APIView):
    """One carrier, addressed by its code. PUT and PATCH both change only the fields sent."""

    role_grants = {"get": ALL_ROLES, "patch": OPS_ONLY, "put": OPS_ONLY, "delete": OPS_ONLY}

    @extend_schema(responses={200: CarrierSerializer})
    def get(self, request, code: str):
        return Response(CarrierSerializer(selectors.carrier_get(code=code)).data)

    @extend_schema(request=CarrierUpdateSerializer, responses={200: CarrierSerializer})
    def patch(self, request, code: str):
        data = CarrierUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(CarrierSerializer(services.carrier_update(code=code, **data.validated_data)).data)

    @extend_schema(request=CarrierUpdateSerializer, responses={200: CarrierSerializer})
    def put(self, request, code: str):
        data = CarrierUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(CarrierSerializer(services.carrier_update(code=code, **data.validated_data)).data)

    @extend_schema(responses={204: None, **error_responses(409)})
    def delete(self, request, code: str):
        services.carrier_delete(code=code)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Shipments ----------------------------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("order", str, description="Order id (42) or order reference (order-42)."),
        OpenApiParameter("transfer", str, description="Transfer reference."),
        OpenApiParameter("status", str, description="Only shipments in this status."),
        OpenApiParameter("carrier", str, description="Carrier code."),
        OpenApiParameter("tracking_number", str),
    ]
)
class ShipmentListView(_Api, generics.ListAPIView):
    """Shipments, newest first."""

    role_grants = {"get": ALL_ROLES}

    serializer_class = ShipmentSerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Shipment.objects.none()
        query = ShipmentQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.shipments(**query.validated_data).prefetch_related("delays")


class ShipmentDetailView(_Api, APIView):
    role_grants = {"get": ALL_ROLES}

    @extend_schema(responses={200: ShipmentSerializer})
    def get(self, request, shipment_id: int):
        return Response(ShipmentSerializer(selectors.shipment_get(shipment_id=shipment_id)).data)


class ShipmentEventsView(_Api, APIView):
    """The shipment's event history (stream shipment-<id>), oldest first."""

    role_grants = {"get": ALL_ROLES}

    @extend_schema(responses={200: EventSerializer(many=True)})
    def get(self, request, shipment_id: int):
        return Response(EventSerializer(selectors.shipment_events(shipment_id=shipment_id), many=True).data)


class ShipmentTrackingView(_Api, APIView):
    """GET: every tracking update received for the shipment with its outcome (applied, duplicate,
    stale, rejected), oldest first. POST: record one update for this shipment."""

    role_grants = {"get": ALL_ROLES, "post": (INTEGRATION,)}

    @extend_schema(responses={200: TrackingUpdateSerializer(many=True)})
    def get(self, request, shipment_id: int):
        updates = selectors.tracking_updates(shipment_id=shipment_id)
        return Response(TrackingUpdateSerializer(updates, many=True).data)

    @extend_schema(request=TrackingInputSerializer, responses={201: TrackingResultSerializer, **error_responses(409)})
    def post(self, request, shipment_id: int):
        update = services.tracking_update_ingest(raw=request.data, source=UpdateSource.API, shipment_id=shipment_id)
        shipment = selectors.shipment_get(shipment_id=shipment_id)
        return Response(
            TrackingResultSerializer({"update": update, "shipment": shipment}).data, status=status.HTTP_201_CREATED
        )


class ShipmentDepartView(_Api, APIView):
    """Hand the shipment to the carrier: consumes the reservations (409 when a line exceeds its
    reservation, or the shipment is not PLANNED)."""

    role_grants = {"post": (INTEGRATION,)}

    @extend_schema(request=DepartInputSerializer, responses={200: ShipmentSerializer, **error_responses(409)})
    def post(self, request, shipment_id: int):
        data = DepartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.shipment_depart(shipment_id=shipment_id, **data.validated_data)
        return Response(ShipmentSerializer(selectors.shipment_get(shipment_id=shipment_id)).data)


class ShipmentCancelView(_Api, APIView):
    """Cancel a shipment before departure; the order keeps its reservations."""

    role_grants = {"post": (PLANNER,)}

    @extend_schema(request=CancelInputSerializer, responses={200: ShipmentSerializer, **error_responses(409)})
    def post(self, request, shipment_id: int):
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.shipment_cancel(shipment_id=shipment_id, reason=data.validated_data["reason"])
        return Response(ShipmentSerializer(selectors.shipment_get(shipment_id=shipment_id)).data)


class LateShipmentListView(_Api, APIView):
    """Late shipments first, then at-risk ones, each with its order reference and reasons."""

    role_grants = {"get": ALL_ROLES}

    @extend_schema(
        parameters=[OpenApiParameter("include_at_risk", bool, description="Default true.")],
        responses={200: LateShipmentSerializer(many=True)},
    )
    def get(self, request):
        query = LateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = selectors.late_shipments(include_at_risk=query.validated_data["include_at_risk"])
        return Response(LateShipmentSerializer(rows, many=True).data)


# --- Carrier webhook ----------------------------------------------------------------------------


class CarrierUpdateView(_Api, APIView):
    """A carrier pushes one tracking update. Every well-formed update is stored and answered 202
    with what was done with it (`outcome`: applied, duplicate, stale, unknown_tracking, rejected);
    an unknown tracking number is kept for ops. A malformed one is stored too and answered 400
    with the field and the reason."""

    role_grants = {"post": (INTEGRATION,)}

    @extend_schema(request=CarrierUpdateInputSerializer, responses={202: TrackingUpdateSerializer})
    def post(self, request):
        update = services.tracking_update_ingest(raw=request.data, source=UpdateSource.WEBHOOK, raise_rejected=False)
        return Response(TrackingUpdateSerializer(update).data, status=status.HTTP_202_ACCEPTED)


class UnmatchedUpdateListView(_Api, generics.ListAPIView):
    """Tracking updates whose tracking number matched no shipment, newest first."""

    role_grants = {"get": ALL_ROLES}

    serializer_class = TrackingUpdateSerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self):
        return (
            selectors.unmatched_tracking_updates()
            if not getattr(self, "swagger_fake_view", False)
            else (TrackingUpdate.objects.none())
        )
