"""Who may call which API operation: every view declares it, and what is not declared is refused.

Roles are Django groups (see `scm.roles`): planner, ops and integration. A user with none of them
is authenticated but may do nothing. Superusers pass every role check.

Each view declares two things, keyed by lower-case HTTP method (`"get"`, `"post"`, ...) or, on a
viewset, by action (`"create"`, `"cancel"`, ...):

    class PurchaseOrderDetailView(APIView):
        permission_classes = [RolePermission]
        role_grants = {"get": ALL_ROLES}         # who, besides ops, may run each method
        supplier_grants = {"get": OWN}          # what a supplier-bound token may run; absent: nothing

- `role_grants`: the roles allowed besides ops (ops may always do everything). A method without an
  entry is ops-only.
- `supplier_grants`: what an integration token bound to one supplier may do. A method without an
  entry is refused to such tokens (403), whatever their role. `OWN` means the view narrows every
  lookup to the bound supplier (`scm.api.supplier_scope`), so another supplier's object answers
  404 exactly like one that does not exist; `SHARED` marks reference data every supplier may use
  (items, locations). Bound tokens are judged by this declaration alone.

`scm.api.checks` refuses to start (a system check error) when a view under /api/ lacks either
declaration or leaves a method it serves out of `role_grants`, and tests/api/test_access_matrix.py
walks every operation of the live schema with every role against the matrix in docs/API.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.conf import settings
from rest_framework.permissions import BasePermission

from scm.api.supplier_scope import bound_supplier_code
from scm.roles import INTEGRATION, OPS, PLANNER, has_role

ALL_ROLES: tuple[str, ...] = (PLANNER, OPS, INTEGRATION)
OPS_ONLY: tuple[str, ...] = ()

#: A supplier-bound token may run the operation on its own supplier's objects only.
OWN = "own"
#: A supplier-bound token may run the operation on reference data shared by every supplier.
SHARED = "shared"
SUPPLIER_GRANTS = (OWN, SHARED)

# HEAD and OPTIONS read what GET reads.
_READ_ALIASES = {"head": "get", "options": "get"}


def _grant_key(view, method: str, grants: Mapping[str, object]) -> str | None:
    """The key of `grants` that covers this request: the viewset action, else the method (HEAD as GET)."""
    method = method.lower()
    for key in (getattr(view, "action", None), method, _READ_ALIASES.get(method)):
        if key and key in grants:
            return key
    return None


def granted_roles(view, method: str) -> tuple[str, ...]:
    """The roles allowed to run `method` on `view` (ops always; others only when declared)."""
    grants: Mapping[str, Iterable[str]] = getattr(view, "role_grants", None) or {}
    key = _grant_key(view, method, grants)
    if key is None:
        return (OPS,)
    return tuple({OPS, *grants[key]})


def supplier_grant(view, method: str) -> str | None:
    """What a supplier-bound token may do with `method` on `view`: OWN, SHARED, or None (refused)."""
    grants: Mapping[str, str] = getattr(view, "supplier_grants", None) or {}
    key = _grant_key(view, method, grants)
    return None if key is None else grants[key]


class RolePermission(BasePermission):
    """Allows the operation when the view grants it to the user's role, or to supplier-bound tokens.

    Anonymous requests fail with 401 (DRF turns a refused unauthenticated request into
    NotAuthenticated because token authentication sends a `WWW-Authenticate` header).
    """

    message = "Your role does not allow this operation."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if bound_supplier_code(user) is not None:
            self.message = "This token is bound to one supplier and may not use this operation."
            return has_role(user, *ALL_ROLES) and supplier_grant(view, request.method) is not None
        return has_role(user, *granted_roles(view, request.method))


class DocsPermission(BasePermission):
    """The OpenAPI schema and its docs page: any role, or everyone when API_DOCS_PUBLIC is set."""

    message = "Your account has no API role (planner, ops or integration)."

    def has_permission(self, request, view) -> bool:
        return settings.API_DOCS_PUBLIC or has_role(request.user, *ALL_ROLES)
