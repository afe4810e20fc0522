from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "scm.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from scm.events import subscriptions
        from scm.webhooks.services import webhook_deliveries_fan_out

        subscriptions.register("webhooks", webhook_deliveries_fan_out)
