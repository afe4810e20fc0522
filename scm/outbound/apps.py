from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "scm.outbound"
    label = "outbound"
    verbose_name = "Outbound calls"

    def ready(self) -> None:
        from scm.outbound import checks  # noqa: F401  (registers the system check)
