"""Routes of the suppliers API, included under /api/v1/ (DESIGN.md §9 names)."""

from django.urls import path

from suppliers.api import messages, profiles, views

urlpatterns = [
    path("suppliers/", views.SupplierListView.as_view(), name="supplier-list"),
    path("suppliers/<str:code>/", views.SupplierDetailView.as_view(), name="supplier-detail"),
    path("supplier-items/", views.SupplierItemListView.as_view(), name="supplier-item-list"),
    path("supplier-items/<int:item_id>/", views.SupplierItemDetailView.as_view(), name="supplier-item-detail"),
    path("purchase-orders/", views.PurchaseOrderListView.as_view(), name="purchase-order-list"),
    path("purchase-orders/<int:po_id>/", views.PurchaseOrderDetailView.as_view(), name="purchase-order-detail"),
    path("purchase-orders/<int:po_id>/send/", views.PurchaseOrderSendView.as_view(), name="purchase-order-send"),
    path(
        "purchase-orders/<int:po_id>/receive/", views.PurchaseOrderReceiveView.as_view(), name="purchase-order-receive"
    ),
    path("purchase-orders/<int:po_id>/cancel/", views.PurchaseOrderCancelView.as_view(), name="purchase-order-cancel"),
    path("purchase-orders/<int:po_id>/close/", views.PurchaseOrderCloseView.as_view(), name="purchase-order-close"),
    path("inbound-messages/", messages.InboundMessageListView.as_view(), name="inbound-message-list"),
    path(
        "inbound-messages/<int:message_id>/",
        messages.InboundMessageDetailView.as_view(),
        name="inbound-message-detail",
    ),
    path(
        "inbound-messages/<int:message_id>/raw/", messages.InboundMessageRawView.as_view(), name="inbound-message-raw"
    ),
    path(
        "inbound-messages/<int:message_id>/reprocess/",
        messages.InboundMessageReprocessView.as_view(),
        name="inbound-message-reprocess",
    ),
    path("supplier-profiles/", profiles.SupplierProfileListView.as_view(), name="supplier-profile-list"),
    path("reprocess-runs/", profiles.ReprocessRunListView.as_view(), name="reprocess-run-list"),
    path("reprocess-runs/<int:run_id>/", profiles.ReprocessRunDetailView.as_view(), name="reprocess-run-detail"),
    path(
        "supplier-profiles/<str:supplier>/<str:document_type>/",
        profiles.SupplierProfileDetailView.as_view(),
        name="supplier-profile-detail",
    ),
    path(
        "supplier-profiles/<str:supplier>/<str:document_type>/versions/",
        profiles.SupplierProfileVersionsView.as_view(),
        name="supplier-profile-versions",
    ),
    path(
        "supplier-profiles/<str:supplier>/<str:document_type>/versions/<int:version>/",
        profiles.SupplierProfileVersionView.as_view(),
        name="supplier-profile-version",
    ),
]
