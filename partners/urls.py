"""Mounted at /as2/ by scm/urls.py."""

from django.urls import path

from partners import views

app_name = "partners"

urlpatterns = [
    path("", views.as2_inbox, name="as2-inbox"),
    path("mdn/", views.as2_mdn, name="as2-mdn"),
]
