"""The AS2 endpoints: plain Django views (the body is the signed/encrypted bytes, not JSON).

Who may call them: known AS2 partners only, by AS2-From/AS2-To and by signature (see
partners/as2_inbound.py); there is no user login, CSRF does not apply (no cookies are used).
Errors answer JSON `{"error": {"code", "message", "fields"}}` with a 4xx, like the API.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from partners import as2_inbound
from scm.errors import DomainError


def _error(status: int, code: str, message: str, **fields) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields}}, status=status)


def _read(request: HttpRequest) -> bytes | JsonResponse:
    """The raw body, refused before reading when it announces more than PARTNER_AS2_MAX_BYTES.
    Read from the stream, so Django's form-upload limit (DATA_UPLOAD_MAX_MEMORY_SIZE) does not apply."""
    limit = settings.PARTNER_AS2_MAX_BYTES
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "invalid_content_length", "Content-Length is not a number.")
    if announced > limit:
        return _error(413, "too_large", f"The message is {announced} bytes; the limit is {limit}.", limit=limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, "too_large", f"The message is larger than {limit} bytes.", limit=limit)
    if not body:
        return _error(400, "empty", "The request has no body.")
    return body


def _call(request: HttpRequest, service):
    body = _read(request)
    if isinstance(body, JsonResponse):
        return body
    try:
        return service(headers=dict(request.headers), body=body)
    except DomainError as exc:
        return _error(exc.status, exc.code, exc.message, **{k: str(v) for k, v in exc.fields.items()})


@csrf_exempt
@require_POST
def as2_inbox(request: HttpRequest) -> HttpResponse:
    reply = _call(request, as2_inbound.as2_receive)
    if isinstance(reply, JsonResponse):
        return reply
    response = HttpResponse(reply.body, status=reply.status)
    for name, value in reply.headers.items():
        response[name] = value
    return response


@csrf_exempt
@require_POST
def as2_mdn(request: HttpRequest) -> HttpResponse:
    result = _call(request, as2_inbound.as2_mdn_receive)
    return result if isinstance(result, JsonResponse) else JsonResponse(result)
