"""Routes under /api/v1/webhooks/."""

from django.urls import path

from scm.webhooks.api import views

urlpatterns = [
    path("", views.WebhookEndpointListView.as_view(), name="webhook-endpoints"),
    path("<int:endpoint_id>/", views.WebhookEndpointDetailView.as_view(), name="webhook-endpoint"),
    path("<int:endpoint_id>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path("deliveries/<int:delivery_id>/", views.WebhookDeliveryDetailView.as_view(), name="webhook-delivery"),
    path(
        "deliveries/<int:delivery_id>/redeliver/",
        views.WebhookDeliveryRedeliverView.as_view(),
        name="webhook-delivery-redeliver",
    ),
]
