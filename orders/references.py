"""How orders name themselves to other apps, written and parsed here only.

- the order reference `order-<id>`: the order's event stream, and the `order_ref` of its shipments;
- the reservation holder of an order line, `order-<id>/line-<line id>`: what inventory holds stock
  for, and what shipment lines and stock events carry back.
"""

from __future__ import annotations

import re

ORDER_PREFIX = "order-"
_HOLDER = re.compile(r"^order-(\d+)/line-(\d+)$")


def order_ref(order_id: int) -> str:
    return f"{ORDER_PREFIX}{order_id}"


def order_id_from_ref(ref: str | None) -> int | None:
    """42 for "order-42"; None for a transfer reference or anything else."""
    number = (ref or "").removeprefix(ORDER_PREFIX)
    return int(number) if (ref or "").startswith(ORDER_PREFIX) and number.isdigit() else None


def line_holder(order_id: int, line_id: int) -> str:
    """The inventory reservation holder of an order line."""
    return f"{order_ref(order_id)}/line-{line_id}"


def line_id_from_holder(holder: str) -> int:
    """The order line id a holder names; ValueError for a holder that is not an order line's."""
    match = _HOLDER.match(holder or "")
    if match is None:
        raise ValueError(f"{holder!r} is not an order line holder (order-<id>/line-<id>)")
    return int(match.group(2))
