"""System check: every API view declares who may do what (scm.api.permissions), or says why not.

Runs with `manage.py check`, `runserver` and `migrate`, and in the test suite. A view under
/api/ must either

- use `RolePermission`, list every HTTP method it serves in `role_grants` and declare
  `supplier_grants` (an empty dict when supplier-bound tokens may do nothing there), or
- set `access_exempt` to the reason it needs no declaration (the token endpoint, the schema).

So a new route cannot reach production with the permissive defaults of a forgotten declaration.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.core.checks import Error, Tags, register
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from scm.api.permissions import SUPPLIER_GRANTS, RolePermission

API_PREFIX = "api/"
_HANDLERS = ("get", "post", "put", "patch", "delete")


def api_view_classes() -> dict[type[APIView], str]:
    """Every DRF view class routed under /api/, with one of its routes."""
    found: dict[type[APIView], str] = {}
    for route, callback in _walk(get_resolver().url_patterns, ""):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if route.startswith(API_PREFIX) and isinstance(view_class, type) and issubclass(view_class, APIView):
            found.setdefault(view_class, route)
    return found


def _walk(patterns, prefix: str) -> Iterator[tuple[str, object]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def declaration_problems(view_class: type[APIView]) -> list[str]:
    """What is missing from the view's access declarations (empty when it is complete)."""
    if getattr(view_class, "access_exempt", ""):
        return []
    if not any(issubclass(p, RolePermission) for p in view_class.permission_classes if isinstance(p, type)):
        return ["does not use RolePermission and sets no `access_exempt` reason"]
    problems = []
    view = view_class()
    role_grants = getattr(view, "role_grants", None)
    supplier_grants = getattr(view, "supplier_grants", None)
    served = [method for method in _HANDLERS if hasattr(view_class, method)]
    if not isinstance(role_grants, dict):
        problems.append("declares no `role_grants`")
    else:
        problems += [f"`role_grants` has no entry for {m.upper()}" for m in served if m not in role_grants]
    if not isinstance(supplier_grants, dict):
        problems.append("declares no `supplier_grants` (use {} when supplier-bound tokens may do nothing)")
    else:
        problems += [
            f"`supplier_grants[{key!r}]` is {value!r}, not one of {SUPPLIER_GRANTS}"
            for key, value in supplier_grants.items()
            if value not in SUPPLIER_GRANTS
        ]
    return problems


@register(Tags.security)
def check_api_access_declarations(app_configs=None, **kwargs) -> list[Error]:
    errors = []
    for view_class, route in sorted(api_view_classes().items(), key=lambda item: item[1]):
        for problem in declaration_problems(view_class):
            errors.append(
                Error(
                    f"{view_class.__module__}.{view_class.__qualname__} (/{route}) {problem}.",
                    hint="Declare who may call each method: see scm/api/permissions.py and docs/API.md.",
                    id="scm_api.E001",
                )
            )
    return errors
