from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "scm.events"
    label = "events"
    verbose_name = "Event log"

    def ready(self) -> None:
        from scm.events import upcasters  # noqa: F401 - registers upcasters
