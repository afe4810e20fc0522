"""Every read of the webhooks app, with the joins and counts its callers need."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from scm.webhooks.exceptions import WebhookDeliveryNotFound, WebhookEndpointNotFound
from scm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list() -> QuerySet[WebhookEndpoint]:
    """Endpoints with how many deliveries wait (`pending_count`) and gave up (`dead_count`)."""
    return WebhookEndpoint.objects.annotate(
        pending_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        dead_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
    ).order_by("pk")


def webhook_endpoint_get(*, endpoint_id: int, for_update: bool = False) -> WebhookEndpoint:
    """One endpoint (locked when `for_update`, inside the caller's transaction). Raises WebhookEndpointNotFound."""
    rows = WebhookEndpoint.objects.select_for_update() if for_update else webhook_endpoint_list()
    endpoint = rows.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id}.", endpoint_id=endpoint_id)
    return endpoint


def webhook_delivery_list(*, endpoint_id: int, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """Deliveries of one endpoint, newest first. Raises WebhookEndpointNotFound for an unknown endpoint."""
    if not WebhookEndpoint.objects.filter(pk=endpoint_id).exists():
        raise WebhookEndpointNotFound(f"No webhook endpoint {endpoint_id}.", endpoint_id=endpoint_id)
    rows = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-pk")


def webhook_delivery_get(*, delivery_id: int) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise WebhookDeliveryNotFound(f"No webhook delivery {delivery_id}.", delivery_id=delivery_id)
    return delivery


def webhook_dead_deliveries() -> QuerySet[WebhookDelivery]:
    """Deliveries that gave up, across all endpoints, newest first (one query whatever the endpoints)."""
    return WebhookDelivery.objects.filter(status=DeliveryStatus.DEAD).select_related("endpoint").order_by("-pk")
