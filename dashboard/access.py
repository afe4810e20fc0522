"""Who may see the dashboard and who may press its buttons.

Planners and ops read every page; only ops may press the buttons that change an order or a
supplier message (cancel, retry, reprocess). The check runs on the server for every request: a
hidden button is a courtesy, the 403 is the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from scm import roles

DASHBOARD_ROLES = (roles.PLANNER, roles.OPS)


def can_view(user) -> bool:
    return roles.has_role(user, *DASHBOARD_ROLES)


def is_ops(user) -> bool:
    return roles.has_role(user, roles.OPS)


def may_read_raw_messages(user) -> bool:
    """Raw supplier bytes are for ops (planners too with RAW_MESSAGES_READABLE_BY_PLANNERS), as in the API."""
    from django.conf import settings

    return is_ops(user) or (settings.RAW_MESSAGES_READABLE_BY_PLANNERS and roles.has_role(user, roles.PLANNER))


def role_required(*allowed: str) -> Callable:
    """Anonymous users go to the login page; signed-in users without one of `allowed` get the 403 page."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not roles.has_role(request.user, *allowed):
                raise PermissionDenied(f"This page is for {' or '.join(allowed)} users.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


dashboard_view = role_required(*DASHBOARD_ROLES)
ops_only = role_required(roles.OPS)
