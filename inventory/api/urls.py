"""Routes of the inventory API, included under /api/v1/ (DESIGN.md §9 names)."""

from django.urls import path

from inventory.api import views

urlpatterns = [
    path("items/", views.ItemListView.as_view(), name="item-list"),
    path("items/<str:sku>/", views.ItemDetailView.as_view(), name="item-detail"),
    path("locations/", views.LocationListView.as_view(), name="location-list"),
    path("locations/<str:code>/", views.LocationDetailView.as_view(), name="location-detail"),
    path("inventory/balances/", views.BalanceListView.as_view(), name="inventory-balances"),
    path("inventory/receipts/", views.ReceiptView.as_view(), name="inventory-receipts"),
    path("inventory/adjustments/", views.AdjustmentView.as_view(), name="inventory-adjustments"),
    path("inventory/transfers/", views.TransferView.as_view(), name="inventory-transfers"),
    path("inventory/atp/", views.AtpView.as_view(), name="inventory-atp"),
]
