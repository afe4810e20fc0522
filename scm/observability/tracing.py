"""OpenTelemetry tracing: one trace from the HTTP request to the worker's steps to the partner.

Off unless an OTLP endpoint is configured (settings.TRACING_ENABLED). Off means nothing: no SDK is
imported, no instrumentation is installed, `span()` and `continue_trace()` return a shared null
context, and events carry no trace fields. On, each process entry point calls
`configure_from_settings(component)`: the web (scm/wsgi.py, scm/asgi.py) and the Celery worker
(scm/observability/celery_hooks.py). It installs the maintained instrumentations:

- Django: a server span per request (probes and /metrics excluded);
- Celery: a producer span where a task is published, whose context travels in the task message
  headers (`traceparent`), and a consumer span where the worker runs it, as its child;
- psycopg2: a span per SQL statement;
- requests: a client span per outbound call (TMS, webhooks, supplier feeds), and the `traceparent`
  header on it, so a partner that traces joins the trace.

While a trace is active, every event appended carries `trace_id` and `traceparent` in its metadata
beside the correlation id (a metadata source registered with scm.events.context), and from there
the event bus relay puts `traceparent` into the NATS headers and webhook deliveries send it, under
`continue_trace()`, so the event's consumers join the trace that caused it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from scm.events import context as event_context

WEB = ("django", "celery", "psycopg2", "requests")
WORKER = ("celery", "psycopg2", "requests")
EXCLUDED_URLS = "healthz,readyz,metrics"

_provider: Any = None
_instrumentors: list[Any] = []
_NULL = contextlib.nullcontext()


def enabled() -> bool:
    return _provider is not None


def configure_from_settings(component: str) -> bool:
    """Export to OTLP/HTTP when settings.TRACING_ENABLED; returns whether tracing is on. Idempotent."""
    from django.conf import settings

    if _provider is not None or not getattr(settings, "TRACING_ENABLED", False):
        return enabled()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    configure(
        component=component,
        processor=BatchSpanProcessor(OTLPSpanExporter()),
        instrument=WORKER if component == "worker" else WEB,
        set_global=True,
    )
    return True


def configure(*, component: str, processor: Any, instrument: tuple[str, ...] = WEB, set_global: bool = False) -> Any:
    """Install a tracer provider with `processor` and the named instrumentations; return the provider.

    Tests pass a SimpleSpanProcessor over an in-memory exporter and call `shutdown()` afterwards.
    """
    global _provider
    from django.conf import settings
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    if _provider is not None:
        raise RuntimeError("tracing is already configured in this process")
    service = f"{getattr(settings, 'OTEL_SERVICE_NAME', 'scm')}-{component}"
    provider = TracerProvider(resource=Resource.create({"service.name": service, "scm.component": component}))
    provider.add_span_processor(processor)
    if set_global:
        trace.set_tracer_provider(provider)
    for name in instrument:
        instrumentor = _instrumentor(name)
        options = {"excluded_urls": EXCLUDED_URLS} if name == "django" else {}
        instrumentor.instrument(tracer_provider=provider, **options)
        _instrumentors.append(instrumentor)
    event_context.add_metadata_source(trace_metadata)
    _provider = provider
    return provider


def _instrumentor(name: str) -> Any:
    if name == "django":
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        return DjangoInstrumentor()
    if name == "celery":
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        return CeleryInstrumentor()
    if name == "psycopg2":
        from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

        return Psycopg2Instrumentor()
    if name == "requests":
        from opentelemetry.instrumentation.requests import RequestsInstrumentor

        return RequestsInstrumentor()
    raise ValueError(f"unknown instrumentation {name!r}")


def shutdown() -> None:
    """Uninstall everything `configure` installed and flush the provider (tests; process exit)."""
    global _provider
    while _instrumentors:
        _instrumentors.pop().uninstrument()
    event_context.remove_metadata_source(trace_metadata)
    if _provider is not None:
        _provider.shutdown()
    _provider = None


def _tracer():
    from opentelemetry import trace

    return trace.get_tracer("scm", tracer_provider=_provider)


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager:
    """A span around a block of our own work (e.g. a workflow step); nothing when tracing is off."""
    if _provider is None:
        return _NULL
    return _tracer().start_as_current_span(name, attributes=attributes)


@contextlib.contextmanager
def _attached(traceparent: str) -> Iterator[None]:
    from opentelemetry import context
    from opentelemetry.propagate import extract

    token = context.attach(extract({"traceparent": traceparent}))
    try:
        yield
    finally:
        context.detach(token)


def continue_trace(traceparent: str | None) -> contextlib.AbstractContextManager:
    """Work in the block belongs to the trace of `traceparent` (an event's), as a child of its span."""
    if _provider is None or not traceparent:
        return _NULL
    return _attached(traceparent)


def trace_metadata() -> dict[str, str]:
    """`trace_id` and `traceparent` of the active span, for an event's metadata; {} outside a trace."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    trace_id = trace.format_trace_id(context.trace_id)
    span_id = trace.format_span_id(context.span_id)
    return {"trace_id": trace_id, "traceparent": f"00-{trace_id}-{span_id}-{int(context.trace_flags):02x}"}
