"""Customers (master data)."""

from __future__ import annotations

from django.db import transaction

from orders.models import Customer
from scm.master_data import master_data_upsert


@transaction.atomic
def customer_upsert(*, code: str, name: str, active: bool = True) -> Customer:
    """Create or change a customer; records CustomerDefined."""
    return master_data_upsert(
        Customer,
        key_field="code",
        key=code,
        fields={"name": name, "active": active},
        allowed=("name", "active"),
        event_type="CustomerDefined",
        stream=f"customer-{code}",
    )
