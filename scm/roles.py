"""Role names (Django groups, created by a migration) and helpers to ask who may do what."""

from __future__ import annotations

PLANNER = "planner"
OPS = "ops"
INTEGRATION = "integration"


def has_role(user, *roles: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    names = getattr(user, "_role_names", None)
    if names is None:
        names = set(user.groups.values_list("name", flat=True))
        user._role_names = names
    return bool(names.intersection(roles))
