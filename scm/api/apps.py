from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "scm.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from scm.api import checks  # noqa: F401 - registers the access-declaration check
