"""Small display helpers for the dashboard's templates."""

from __future__ import annotations

from django import template

from orders.models import STATUS_COLOURS

register = template.Library()

_SHIPMENT_COLOURS = {
    "PLANNED": "grey",
    "DEPARTED": "blue",
    "IN_TRANSIT": "teal",
    "EXCEPTION": "red",
    "DELIVERED": "green",
    "CANCELLED": "grey",
    "late": "red",
    "at_risk": "orange",
    "QUARANTINED": "red",
    "APPLIED": "green",
    "DUPLICATE": "grey",
    "RECEIVED": "blue",
    "DEAD": "red",
    "FAILED": "red",
}


@register.filter
def colour(status: str) -> str:
    """The badge colour of an order, shipment or message status."""
    return STATUS_COLOURS.get(status) or _SHIPMENT_COLOURS.get(str(status), "grey")


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


@register.filter
def label(value: str) -> str:
    """ "PARTIALLY_FULFILLED" -> "partially fulfilled"."""
    return str(value).replace("_", " ").lower()


@register.simple_tag(takes_context=True)
def sort_link(context, key: str) -> str:
    """The sort value a column header links to: ascending, or descending when already ascending."""
    current = context.get("filters", {}).get("sort", "")
    return f"-{key}" if current == key else key


@register.filter
def order_id(order_ref: str) -> int | None:
    """42 for "order-42", for links from shipments to their order."""
    from dashboard.selectors import order_id_of

    return order_id_of(order_ref or "")
