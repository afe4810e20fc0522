"""Who may call which API operation.

Roles are Django groups (see `scm.roles`): planner, ops and integration. A user with none of them
is authenticated but may do nothing. Superusers pass every check.

Views declare what each role may do in `role_grants`, keyed by viewset action (`"create"`,
`"cancel"`, ...) or by lower-case HTTP method for plain API views (`"get"`, `"post"`, ...):

    class OrderCreateView(APIView):
        permission_classes = [RolePermission]
        role_grants = {"post": (PLANNER, INTEGRATION)}

Without a grant for the operation, reads (GET, HEAD, OPTIONS) are open to every role and writes
to ops only. Ops may always do everything, so grants list only the extra roles.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

from scm.api.supplier_scope import bound_supplier_code
from scm.roles import INTEGRATION, OPS, PLANNER, has_role

ALL_ROLES: tuple[str, ...] = (PLANNER, OPS, INTEGRATION)


def granted_roles(view, method: str) -> tuple[str, ...]:
    """The roles allowed to run `method` on `view`: its grant for the action or method, else the default."""
    grants: dict[str, Iterable[str]] = getattr(view, "role_grants", None) or {}
    action = getattr(view, "action", None)
    for key in (action, method.lower()):
        if key and key in grants:
            return tuple({OPS, *grants[key]})
    if method.upper() in SAFE_METHODS:
        return ALL_ROLES
    return (OPS,)


class HasAnyRole(BasePermission):
    """Any of the three roles; for read-only views that every role may see."""

    message = "Your account has no API role (planner, ops or integration)."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *ALL_ROLES)


class DocsPermission(BasePermission):
    """The OpenAPI schema and its docs page: any role, or everyone when API_DOCS_PUBLIC is set."""

    message = HasAnyRole.message

    def has_permission(self, request, view) -> bool:
        return settings.API_DOCS_PUBLIC or has_role(request.user, *ALL_ROLES)


class RolePermission(BasePermission):
    """Allows the operation when the user holds one of the roles the view grants for it.

    Anonymous requests fail with 401 (DRF turns a refused unauthenticated request into
    NotAuthenticated because token authentication sends a `WWW-Authenticate` header).
    """

    message = "Your role does not allow this operation."

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, *granted_roles(view, request.method))


class DenySupplierBound(BasePermission):
    """Refuses integration users bound to one supplier, for views that would show other suppliers' data."""

    message = "This token is bound to one supplier and cannot read data shared across suppliers."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated) and bound_supplier_code(user) is None
