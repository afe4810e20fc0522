"""Supplier binding: an integration token that belongs to one supplier sees only that supplier's data.

Domain views scope their querysets with `scope_to_bound_supplier` before looking an object up, so
another supplier's purchase order or message answers 404 exactly like one that does not exist
(a 403 would confirm that it exists). Writes check the supplier in the payload with
`bound_supplier_code` the same way.

The binding is a plain supplier code string, not a foreign key, so this module does not depend
on the suppliers app.
"""

from __future__ import annotations

from django.db.models import QuerySet

_CACHE_ATTR = "_scm_bound_supplier_code"
_UNBOUND = ""


def bound_supplier_code(user) -> str | None:
    """The supplier code the user is bound to, or None when the user may see every supplier."""
    if not getattr(user, "is_authenticated", False):
        return None
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is None:
        from scm.api.models import IntegrationProfile

        code = (
            IntegrationProfile.objects.filter(user_id=user.pk).values_list("supplier_code", flat=True).first()
        )
        cached = code or _UNBOUND
        setattr(user, _CACHE_ATTR, cached)
    return cached or None


def scope_to_bound_supplier(queryset: QuerySet, user, *, field: str = "supplier__code") -> QuerySet:
    """Narrow `queryset` to the user's supplier when the user is bound to one; unchanged otherwise.

    `field` is the lookup from the queried model to the supplier's code, e.g. `"supplier__code"`
    for purchase orders or `"purchase_order__supplier__code"` for their lines.
    """
    code = bound_supplier_code(user)
    if code is None:
        return queryset
    return queryset.filter(**{field: code})


def may_act_for_supplier(user, supplier_code: str) -> bool:
    """Whether the user may post data for `supplier_code` (always, unless bound to another supplier)."""
    code = bound_supplier_code(user)
    return code is None or code == supplier_code
