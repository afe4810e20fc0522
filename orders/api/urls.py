"""Routes of the orders API, included under /api/v1/ (DESIGN.md §9 names)."""

from django.urls import path

from orders.api import views

urlpatterns = [
    path("customers/", views.CustomerListView.as_view(), name="customer-list"),
    path("customers/<str:code>/", views.CustomerDetailView.as_view(), name="customer-detail"),
    path("orders/", views.OrderListView.as_view(), name="order-list"),
    path("orders/<int:order_id>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel/", views.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/retry/", views.OrderRetryView.as_view(), name="order-retry"),
    path("orders/<int:order_id>/events/", views.OrderEventsView.as_view(), name="order-events"),
]
