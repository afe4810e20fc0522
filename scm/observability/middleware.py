"""Gives every request a correlation id (X-Request-ID, or a new one) for logs and events."""

from __future__ import annotations

import re

import structlog

from scm.events.context import event_context, new_correlation_id

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else new_correlation_id()
        request.request_id = request_id
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            with event_context(correlation_id=request_id):
                response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
