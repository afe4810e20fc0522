"""The edge of the API: refuse oversized bodies before anything reads them, and answer JSON 404s.

DRF parses request bodies from the raw stream, which bypasses Django's
DATA_UPLOAD_MAX_MEMORY_SIZE check, so the size limit for `/api/` is enforced here from the
declared Content-Length (Django never reads past it), once the URL is resolved: the limit is
`API_MAX_BODY_BYTES` unless the view declares its own `max_body_bytes` (bytes, or the name of a
setting), e.g. the raw inbound-message endpoint:

    class InboundMessageListView(generics.ListAPIView):
        max_body_bytes = "SUPPLIER_MESSAGE_MAX_BYTES"

Paths under `/api/` that match no route answer the API's JSON error shape instead of Django's
HTML page; unknown paths under `/api/v1/` already get a JSON 404 from the catch-all route at the
end of `scm/api/urls.py`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, JsonResponse
from rest_framework.response import Response

from scm.api.errors import error_body

API_PREFIX = "/api/"


class ApiEdgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if _content_length(request) is None:
            return JsonResponse(
                error_body("malformed_request", "The Content-Length header is not a non-negative integer."),
                status=400,
            )
        response = self.get_response(request)
        if response.status_code == 404 and not isinstance(response, Response | JsonResponse):
            return JsonResponse(
                error_body("not_found", f"No API endpoint at {request.path}.", {"path": request.path}), status=404
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not request.path.startswith(API_PREFIX):
            return None
        length, limit = _content_length(request) or 0, body_limit_for(view_func)
        if length > limit:
            return JsonResponse(
                error_body(
                    "payload_too_large",
                    f"The request body has {length} bytes; the limit is {limit}.",
                    {"content_length": length, "max_bytes": limit},
                ),
                status=413,
            )
        return None


def body_limit_for(view_func) -> int:
    """The largest body the view accepts: its `max_body_bytes` (bytes or a setting's name), else the API default."""
    view_class = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None)
    declared = getattr(view_class, "max_body_bytes", None)
    if isinstance(declared, str):
        return int(getattr(settings, declared))
    if isinstance(declared, int):
        return declared
    return settings.API_MAX_BODY_BYTES


def _content_length(request) -> int | None:
    """The declared body length (0 when absent), or None when the header is not a non-negative integer."""
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(declared)
    except ValueError:
        return None
    return length if length >= 0 else None


class RejectNulMiddleware:
    """Outside the API, a NUL character in the path is a 404.

    PostgreSQL text cannot hold NUL, so a lookup by such a key would fail in the database driver
    (a 500) instead of finding nothing: `/inventory/%00/` names no SKU. The API's views and
    serializers check their keys and parameters themselves (and name them in the error), and the
    dashboard's filter forms refuse NUL in query parameters (Django's form fields do), so only
    paths need this.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if "\x00" in request.path:
            raise Http404("No such page.")
        return self.get_response(request)
