"""One JSON shape for every API error: {"error": {"code", "message", "fields"}}.

- `exception_handler` (DRF's EXCEPTION_HANDLER) maps domain errors, DRF errors and the event
  store's errors to their 4xx, and a deadlock or serialization failure that escaped a service
  (after whatever retries the service made) to **503** `transient_conflict` with `Retry-After`:
  the work was rolled back and the same request may simply be sent again.
- `bad_request`, `permission_denied`, `page_not_found` and `server_error` are Django's handler400/
  403/404/500 (set in scm/urls.py): under /api/ they answer the same JSON shape (a 500 carries the
  request's correlation id and never a stack trace); elsewhere Django's own pages.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from scm.errors import DomainError, TransientConflict
from scm.events.exceptions import ConcurrencyError, EventValidationError

_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


API_PREFIX = "/api/"
#: PostgreSQL SQLSTATEs of conflicts that a retry resolves: deadlock_detected, serialization_failure.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def is_transient_database_error(exc: BaseException) -> bool:
    """A deadlock or serialization failure (PostgreSQL), or SQLite's "database is locked", whether raised
    by the database directly or as the TransientConflict a service gives up with after its retries."""
    if isinstance(exc, TransientConflict):
        return True
    if not isinstance(exc, DatabaseError):
        return False
    if getattr(exc.__cause__, "pgcode", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc)


def transient_conflict_response() -> Response:
    seconds = settings.API_RETRY_AFTER_SECONDS
    body = error_body(
        "transient_conflict",
        "The database gave up on this request because of concurrent work (a deadlock or serialization "
        f"conflict); it was rolled back. Send it again after {seconds} second(s).",
        {"retry_after_seconds": seconds},
    )
    return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(seconds)})


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if is_transient_database_error(exc):
        return transient_conflict_response()
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, _jsonable(exc.fields)), status=exc.status)
    if isinstance(exc, ConcurrencyError):
        return Response(
            error_body(exc.code, str(exc), {"stream": exc.stream, "actual_version": exc.actual_version}),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, EventValidationError):
        return Response(error_body(exc.code, str(exc), {exc.field: str(exc)}), status=422)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next(
        (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), getattr(exc, "default_code", "error")
    )
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        message = _first_message(fields) or "The request is not valid."
        response.data = error_body(code, message, fields)
    elif isinstance(exc, exceptions.Throttled):
        fields = {"retry_after_seconds": math.ceil(exc.wait)} if exc.wait is not None else {}
        response.data = error_body(code, str(exc.detail), fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        fields = getattr(exc, "fields", None)
        response.data = error_body(code, str(detail), fields if isinstance(fields, dict) else None)
    return response


# --- Django's error handlers (handler400/403/404/500 in scm/urls.py) ---------------------------


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request, exception, template_name=defaults.ERROR_400_TEMPLATE_NAME):
    if not _is_api(request):
        return defaults.bad_request(request, exception, template_name)
    # Our own BadRequest messages are safe to show; other causes (a forged Host header) are not echoed.
    message = str(exception) if type(exception) is BadRequest else "The request could not be understood."
    return JsonResponse(error_body("bad_request", message), status=400)


def permission_denied(request, exception, template_name=defaults.ERROR_403_TEMPLATE_NAME):
    if not _is_api(request):
        return defaults.permission_denied(request, exception, template_name)
    return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)


def page_not_found(request, exception, template_name=defaults.ERROR_404_TEMPLATE_NAME):
    if not _is_api(request):
        return defaults.page_not_found(request, exception, template_name)
    fields = {"path": request.path}
    return JsonResponse(error_body("not_found", f"No API endpoint at {request.path}.", fields), status=404)


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """Anything unexpected: the cause is in the log under the correlation id, never in the answer."""
    if not _is_api(request):
        return defaults.server_error(request, template_name)
    correlation_id = getattr(request, "request_id", "")
    body = error_body(
        "internal_error",
        "The server failed to handle this request. It was logged with the correlation id; retry, and if it "
        "fails again report the id.",
        {"correlation_id": correlation_id},
    )
    return JsonResponse(body, status=500)


def _first_message(fields: Any, path: str = "") -> str:
    if isinstance(fields, dict):
        for key, value in fields.items():
            found = _first_message(value, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(fields, list):
        for index, value in enumerate(fields):
            if isinstance(value, (dict, list)):
                found = _first_message(value, f"{path}[{index}]")
            else:
                found = f"{path}: {value}" if path else str(value)
            if found:
                return found
    elif fields:
        return f"{path}: {fields}" if path else str(fields)
    return ""


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value if isinstance(value, (int, float, str, bool, list, dict, type(None))) else str(value)
            for key, value in fields.items()}
