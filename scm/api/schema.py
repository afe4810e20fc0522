"""OpenAPI generation: every operation documents the errors it can answer, in the one error shape.

`AutoSchema` (the project's DEFAULT_SCHEMA_CLASS) adds to each operation the standard error
responses that follow from how the view is built: 400 always (a malformed Content-Length is
refused before any view runs), 401/403 when it needs a login, 404 when the path names an object,
413/415 when it takes a body, 429 when it is throttled (the token endpoint: also the login
lockout), 422 and the `Idempotency-Key` header when its handler is `@idempotent`, and 503 always
(a deadlock or serialization conflict that escaped the service: retry). Views document their own
domain errors (409 for conflicts and so on) with `error_responses()`:

    @extend_schema(responses={201: OrderSerializer, **error_responses(409, 422)})
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import permissions, serializers

from scm.api.idempotency import HEADER as IDEMPOTENCY_HEADER

_BODY_METHODS = {"POST", "PUT", "PATCH"}

ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request is malformed or not valid (codes `malformed_request`, `invalid`, ...).",
    401: "No valid credentials (`not_authenticated`, `authentication_failed`). Send `Authorization: Token <key>`.",
    403: "Authenticated, but the role does not allow this operation (`permission_denied`).",
    404: "No such object, or it belongs to another supplier (`not_found`).",
    409: "Conflicts with the current state (`conflict`, `stale_stream_version`, ...).",
    413: "The body is larger than the server accepts (`payload_too_large`).",
    415: "The Content-Type is not accepted (`unsupported_media_type`).",
    422: "Understood but refused, e.g. the Idempotency-Key was used for a different request "
    "(`idempotency_key_reused`).",
    429: "Too many requests (`throttled`), or too many failed logins (`locked_out`); retry after the "
    "`Retry-After` seconds.",
    503: "A concurrent change made the database give up on this request (`transient_conflict`); nothing was "
    "kept: send it again after the `Retry-After` seconds.",
}


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable error code.")
    message = serializers.CharField(help_text="What went wrong, for humans.")
    fields = serializers.DictField(help_text="Facts about the error, e.g. per-field validation messages.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, all in the error shape."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS.get(code, "Error."))
        for code in statuses
    }


class AutoSchema(SpectacularAutoSchema):
    def _handler(self):
        action = getattr(self.view, "action", None)
        return getattr(self.view, action or self.method.lower(), None)

    def _is_idempotent(self) -> bool:
        return bool(getattr(self._handler(), "idempotent", False))

    def _is_public(self) -> bool:
        return any(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self._is_idempotent():
            parameters.append(
                OpenApiParameter(
                    IDEMPOTENCY_HEADER,
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Any unique string (1-255 printable ASCII characters). A retry with the same key "
                    "and body returns the first response with `Idempotent-Replayed: true` instead of repeating "
                    "the work; the same key with a different body answers 422.",
                )
            )
        return parameters

    def _standard_error_statuses(self) -> list[int]:
        statuses = [400]
        takes_body = self.method in _BODY_METHODS
        if not self._is_public():
            statuses += [401, 403]
        if "{" in self.path:
            statuses.append(404)
        if takes_body:
            statuses += [413, 415]
        if self._is_idempotent():
            statuses.append(422)
        if self.view.get_throttles():
            statuses.append(429)
        statuses.append(503)
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, response in error_responses(*self._standard_error_statuses()).items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(response, str(code), direction=direction)
        return dict(sorted(responses.items()))
