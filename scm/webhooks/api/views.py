"""Webhooks API (ops only): endpoints CRUD, their deliveries, and redelivery of dead ones."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from scm.api.pagination import CursorPagination
from scm.api.parsers import JSONParser
from scm.api.permissions import RolePermission
from scm.api.schema import error_responses
from scm.webhooks import selectors, services
from scm.webhooks.api.serializers import (
    WebhookDeliveryQuerySerializer,
    WebhookDeliverySerializer,
    WebhookEndpointInputSerializer,
    WebhookEndpointSerializer,
)
from scm.webhooks.models import DeliveryStatus, WebhookDelivery

OPS_ONLY = {"get": (), "post": (), "patch": (), "delete": ()}


class _OpsOnly:
    permission_classes = [RolePermission]
    role_grants = OPS_ONLY
    supplier_grants: dict = {}
    parser_classes = [JSONParser]


@extend_schema_view(get=extend_schema(description="Webhook endpoints, oldest first, with delivery counts."))
class WebhookEndpointListView(_OpsOnly, generics.ListAPIView):

    serializer_class = WebhookEndpointSerializer
    pagination_class = CursorPagination
    ordering = "pk"

    def get_queryset(self):
        return selectors.webhook_endpoint_list()

    @extend_schema(
        description="Subscribe a URL to the events appended from now on (all types, or `event_types`).",
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointSerializer},
    )
    def post(self, request):
        data = WebhookEndpointInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(actor=request.user, **data.validated_data)
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint.pk)
        return Response(WebhookEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(_OpsOnly, APIView):
    """Read, change (PATCH; send `secret` to rotate it) or delete one endpoint."""

    @extend_schema(responses={200: WebhookEndpointSerializer})
    def get(self, request, endpoint_id: int):
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(request=WebhookEndpointInputSerializer(partial=True), responses={200: WebhookEndpointSerializer})
    def patch(self, request, endpoint_id: int):
        data = WebhookEndpointInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.webhook_endpoint_update(endpoint_id=endpoint_id, **data.validated_data)
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request, endpoint_id: int):
        services.webhook_endpoint_delete(endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, enum=DeliveryStatus.values, description="Only deliveries in this status.")
    ]
)
class WebhookDeliveryListView(_OpsOnly, generics.ListAPIView):
    """Deliveries of one endpoint, newest first."""

    serializer_class = WebhookDeliverySerializer
    pagination_class = CursorPagination
    ordering = "-pk"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no endpoint_id
            return WebhookDelivery.objects.none()
        query = WebhookDeliveryQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.webhook_delivery_list(
            endpoint_id=self.kwargs["endpoint_id"], status=query.validated_data.get("status")
        )


class WebhookDeliveryDetailView(_OpsOnly, APIView):
    @extend_schema(responses={200: WebhookDeliverySerializer})
    def get(self, request, delivery_id: int):
        return Response(WebhookDeliverySerializer(selectors.webhook_delivery_get(delivery_id=delivery_id)).data)


class WebhookDeliveryRedeliverView(_OpsOnly, APIView):
    """Queue a DEAD delivery again with a fresh set of attempts (409 when it is not DEAD)."""

    @extend_schema(request=None, responses={200: WebhookDeliverySerializer, **error_responses(409)})
    def post(self, request, delivery_id: int):
        delivery = services.webhook_delivery_redeliver(delivery_id=delivery_id)
        return Response(WebhookDeliverySerializer(delivery).data)
