"""Routes of REST API v1. Each domain app contributes its own `api/urls.py`, included below.

Keep the catch-all last: it turns every path no route matched into a JSON 404.
"""

from django.urls import include, path, re_path

from scm.api import views

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="api-token"),
    # The schema and its docs page need a role (session or token) unless API_DOCS_PUBLIC is set.
    path("schema/", views.SchemaView.as_view(), name="api-schema"),
    path("docs/", views.SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("events/", views.EventListView.as_view(), name="api-events"),
    path("webhooks/", include("scm.webhooks.api.urls")),
    # --- Domain apps: add one include per app here, e.g. path("", include("orders.api.urls")). ---
    path("", include("shipments.api.urls")),
    path("", include("inventory.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("suppliers.api.urls")),
    # --- End of domain apps. ---
    re_path(r"^.*$", views.NotFoundView.as_view(), name="api-not-found"),
]
