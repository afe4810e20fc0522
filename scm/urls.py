from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from scm import health
from scm.observability.views import metrics_view

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("scm.api.urls")),
    path("as2/", include("partners.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("dashboard.urls")),
]

# Under /api/ errors raised outside a DRF view (middleware, URL resolution, a crash) still answer the
# API's JSON error shape; elsewhere Django's own pages.
handler400 = "scm.api.errors.bad_request"
handler403 = "scm.api.errors.permission_denied"
handler404 = "scm.api.errors.page_not_found"
handler500 = "scm.api.errors.server_error"
