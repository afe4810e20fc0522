"""One JSON shape for every API error: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from scm.errors import DomainError
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


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
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
        response.data = error_body(code, str(detail))
    return response


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
