from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "scm.api"
    label = "api"
    verbose_name = "REST API"
