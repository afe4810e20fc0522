"""The edge of the API: refuse oversized bodies before anything reads them, and answer JSON 404s.

DRF parses request bodies from the raw stream, which bypasses Django's
DATA_UPLOAD_MAX_MEMORY_SIZE check, so the size limit for `/api/` is enforced here from the
declared Content-Length (Django never reads past it). Paths under `/api/` that match no route
answer the API's JSON error shape instead of Django's HTML page; unknown paths under `/api/v1/`
already get a JSON 404 from the catch-all route at the end of `scm/api/urls.py`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from rest_framework.response import Response

from scm.api.errors import error_body

API_PREFIX = "/api/"


class ApiEdgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        refused = self._refuse_oversized(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code == 404 and not isinstance(response, Response | JsonResponse):
            return JsonResponse(
                error_body("not_found", f"No API endpoint at {request.path}.", {"path": request.path}), status=404
            )
        return response

    @staticmethod
    def _refuse_oversized(request) -> JsonResponse | None:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            return JsonResponse(
                error_body("malformed_request", "The Content-Length header is not a non-negative integer."),
                status=400,
            )
        limit = settings.API_MAX_BODY_BYTES
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
