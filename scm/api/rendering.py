"""Responses are JSON, whatever the client asks for.

The browsable API (DRF's HTML renderer) exists only with DEBUG on (see REST_FRAMEWORK in settings):
in production `?format=api` must not turn pages, and error bodies, into HTML. An unknown `?format=`
or an `Accept` header this server cannot satisfy gets JSON rather than a 404 or a 406: every
client of this API reads JSON, and an error about the error would help nobody.
"""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers, format):
        return [renderer for renderer in renderers if renderer.format == format] or list(renderers)

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
