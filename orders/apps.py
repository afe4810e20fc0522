from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self) -> None:
        from orders import handlers, metrics
        from scm.events import subscriptions

        subscriptions.register("orders.backorders", handlers.on_stock_available, types=handlers.STOCK_ARRIVAL_TYPES)
        subscriptions.register("orders.shipments", handlers.on_shipments_app_event, types=handlers.SHIPMENTS_APP_TYPES)
        metrics.register()
