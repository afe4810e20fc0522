from django.apps import AppConfig


class BusConfig(AppConfig):
    name = "scm.bus"
    label = "bus"
    verbose_name = "Event bus"

    def ready(self) -> None:
        from scm.bus import metrics

        metrics.register()
