"""The planner dashboard, mounted at the site root."""

from django.urls import path

from dashboard import reprocess, transport, views

app_name = "dashboard"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("inventory/", views.positions, name="positions"),
    path("inventory/<str:sku>/", views.sku_detail, name="sku"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("orders/<int:order_id>/retry/", views.order_retry, name="order_retry"),
    path("shipments/", views.shipment_list, name="shipments"),
    path("shipments/<int:shipment_id>/", views.shipment_detail, name="shipment"),
    path("supplier-exceptions/", views.supplier_exceptions, name="exceptions"),
    path("supplier-exceptions/messages/<int:message_id>/", views.message_detail, name="message"),
    path("supplier-exceptions/messages/<int:message_id>/reprocess/", views.message_reprocess, name="message_reprocess"),
    path("supplier-exceptions/reprocess/", reprocess.reprocess_start, name="reprocess_start"),
    path("supplier-exceptions/reprocess/<int:run_id>/", reprocess.reprocess_run_detail, name="reprocess_run"),
    path("supplier-exceptions/reprocess/<int:run_id>/stop/", reprocess.reprocess_run_stop, name="reprocess_stop"),
    path("supplier-exceptions/reprocess/<int:run_id>/resume/", reprocess.reprocess_run_resume, name="reprocess_resume"),
    path("replenishment/", views.replenishment, name="replenishment"),
    path("replenishment/draft/", views.replenishment_draft, name="replenishment_draft"),
    path("webhooks/dead/", views.dead_webhooks, name="webhooks"),
    path("purchase-orders/", transport.purchase_order_list, name="purchase_orders"),
    path("purchase-orders/<str:number>/", transport.purchase_order_detail, name="purchase_order"),
    path("transport/dead/", transport.transport_dead_letters, name="transport"),
    path("transport/outbox/<int:entry_id>/resend/", transport.outbox_resend, name="outbox_resend"),
]
