"""Every read of the webhooks app, with the joins and counts its callers need."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from scm.outbound.selectors import breaker_lets_calls, with_breaker
from scm.webhooks.exceptions import WebhookDeliveryNotFound, WebhookEndpointNotFound
from scm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

BREAKER_PREFIX = "webhook:"  # an endpoint's breaker is named webhook:<id> (adapters/http.py)


def webhook_endpoint_list() -> QuerySet[WebhookEndpoint]:
    """Endpoints with how many deliveries wait (`pending_count`) and gave up (`dead_count`), and
    their breaker (`breaker_state`, null when it never failed; `breaker_opened_until`, `breaker_last_error`)."""
    endpoints = WebhookEndpoint.objects.annotate(
        pending_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        dead_count=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
    )
    return with_breaker(endpoints, prefix=BREAKER_PREFIX).order_by("pk")


def due_deliveries(*, now: datetime, endpoint_id: int | None = None) -> QuerySet[WebhookDelivery]:
    """Deliveries to send now: PENDING, due, of an active endpoint, with no earlier delivery of the
    same endpoint and stream still open (PENDING or DEAD), so each stream arrives in order."""
    earlier_open = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        stream=OuterRef("stream"),
        event_position__lt=OuterRef("event_position"),
    ).exclude(status=DeliveryStatus.DELIVERED)
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__active=True
    ).filter(~Exists(earlier_open))
    if endpoint_id is not None:
        due = due.filter(endpoint_id=endpoint_id)
    return due


def webhook_endpoints_due(*, now: datetime) -> list[int]:
    """Active endpoints with a delivery due at `now` whose breaker lets calls through (judged on
    the real clock), oldest first: the ones worth a send task now."""
    has_due = Exists(due_deliveries(now=now).filter(endpoint_id=OuterRef("pk")))
    endpoints = with_breaker(WebhookEndpoint.objects.filter(active=True), prefix=BREAKER_PREFIX).filter(has_due)
    return list(endpoints.filter(breaker_lets_calls(now=timezone.now())).order_by("pk").values_list("pk", flat=True))


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
