from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "scm.events"
    label = "events"
    verbose_name = "Event log"
