"""Routes under /api/v1/ for carriers, shipments and carrier tracking updates."""

from django.urls import path

from shipments.api import views

urlpatterns = [
    path("carriers/", views.CarrierListView.as_view(), name="carriers"),
    path("carriers/<str:code>/", views.CarrierDetailView.as_view(), name="carrier"),
    path("shipments/", views.ShipmentListView.as_view(), name="shipments"),
    path("shipments/late/", views.LateShipmentListView.as_view(), name="shipments-late"),
    path("shipments/<int:shipment_id>/", views.ShipmentDetailView.as_view(), name="shipment"),
    path("shipments/<int:shipment_id>/events/", views.ShipmentEventsView.as_view(), name="shipment-events"),
    path("shipments/<int:shipment_id>/tracking/", views.ShipmentTrackingView.as_view(), name="shipment-tracking"),
    path("shipments/<int:shipment_id>/depart/", views.ShipmentDepartView.as_view(), name="shipment-depart"),
    path("shipments/<int:shipment_id>/cancel/", views.ShipmentCancelView.as_view(), name="shipment-cancel"),
    path("carrier-updates/", views.CarrierUpdateView.as_view(), name="carrier-updates"),
    path("carrier-updates/unmatched/", views.UnmatchedUpdateListView.as_view(), name="carrier-updates-unmatched"),
]
