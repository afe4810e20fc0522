from django.apps import AppConfig


class PartnersConfig(AppConfig):
    """Partner transport: each supplier's connection (AS2, SFTP, HTTPS), the outbox, AS2 messages and MDNs."""

    name = "partners"

    def ready(self) -> None:
        from partners import handlers
        from scm.events import subscriptions

        subscriptions.register("partners.outbox", handlers.on_document_built, types=handlers.DOCUMENT_EVENTS)
