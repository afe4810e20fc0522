"""The Prometheus scrape endpoint.

No authentication, like most exporters: restrict it at the network (load balancer or ingress
rule, or a private listener) instead. It reveals route names, task names and volumes, not data.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scm.observability import metrics


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(metrics.scrape_registry()), content_type=CONTENT_TYPE_LATEST)
