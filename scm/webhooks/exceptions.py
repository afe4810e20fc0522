"""Errors of the webhooks app; each maps to one HTTP status through the API's error handler."""

from scm.errors import Conflict, NotFound, ValidationFailed


class WebhookEndpointNotFound(NotFound):
    code = "webhook_endpoint_not_found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"


class DeliveryNotDead(Conflict):
    """Only a delivery that gave up can be redelivered; a pending one is still being tried."""

    code = "delivery_not_dead"


class UnknownEventTypes(ValidationFailed):
    code = "unknown_event_types"
