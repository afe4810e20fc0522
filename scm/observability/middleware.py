"""Gives every request a correlation id, an actor for its events, a log line and a latency sample.

The correlation id is the `X-Request-ID` header when it is a sane token, else a new one; it is
echoed in the response, bound into structlog's contextvars (every log line of the request carries
`request_id`) and into the event context (every event appended carries `correlation_id`).

The actor (`user:<username>`) cannot be known here: DRF authenticates inside the view, long after
this middleware ran. So the event context gets a resolver instead of a value; it reads
`request.user` when an event is appended. DRF's `Request.user` setter writes the authenticated user
back onto the Django request, so token-authenticated API calls and session-authenticated pages
resolve alike. An actor set explicitly with `event_context(actor=...)` still wins.
"""

from __future__ import annotations

import re
import time
from functools import partial

import structlog
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from scm.events.context import actor_resolver, event_context, new_correlation_id
from scm.observability import metrics

log = structlog.get_logger("scm.request")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_actor(request: HttpRequest, *, resolve: bool = True) -> str | None:
    """`user:<username>` for an authenticated request, else None.

    With resolve=False a user that nobody has looked up yet stays unresolved (no session query),
    which is what the closing log line wants: it must not fail or cost a query on /healthz.
    """
    user = request.__dict__.get("user")
    if user is None:
        return None
    if not resolve and isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    if not getattr(user, "is_authenticated", False):
        return None
    return f"user:{user.get_username()}"


def route_of(request: HttpRequest) -> str:
    """The URL pattern that matched ("api/v1/orders/<int:pk>/"), never the raw path: bounded labels."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    return match.route or match.view_name or UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else new_correlation_id()
        request.request_id = request_id
        started = time.perf_counter()
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            event_context(correlation_id=request_id),
            actor_resolver(partial(request_actor, request)),
        ):
            response = self.get_response(request)
            seconds = time.perf_counter() - started
            route = route_of(request)
            metrics.observe_request(
                route=route,
                method=request.method if request.method in _METHODS else "OTHER",
                status_code=response.status_code,
                seconds=seconds,
            )
            log.info(
                "http.request",
                method=request.method,
                path=request.path,
                route=route,
                status=response.status_code,
                duration_ms=round(seconds * 1000, 2),
                actor=request_actor(request, resolve=False),
            )
        response["X-Request-ID"] = request_id
        return response
