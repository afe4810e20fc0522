"""Celery signal receivers: logging through structlog, correlation ids across the broker, metrics.

Connected when `scm.celery` is imported, which happens in every process (web, worker, beat,
management commands), so publishing and executing sides always agree.

Correlation flow: the publishing process puts its current correlation id and actor into the
message headers (`before_task_publish`); the executing process binds them, with the task's id and
name, into the event context and structlog's contextvars for the duration of the task
(`task_prerun` / `task_postrun`). Eager tasks never pass through a broker, so they take the
values of the context they run in. A task started by nothing (beat) uses its own task id as the
correlation id, so its events and log lines can still be grouped.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import structlog
from celery import signals
from celery.exceptions import Retry

from scm.events.context import current_actor, current_correlation_id, event_context
from scm.observability import metrics

log = structlog.get_logger(__name__)

HEADER_CORRELATION_ID = "scm_correlation_id"
HEADER_ACTOR = "scm_actor"

# Open task contexts by task id. A list, because an eager retry runs the same task id nested.
_active: dict[str, list[ExitStack]] = {}


@signals.setup_logging.connect
def _setup_logging(**_kwargs) -> None:
    """Having a receiver stops Celery from replacing the root logger's handlers with its own."""
    from django.conf import settings

    from scm.observability.logging import configure

    configure(log_format=getattr(settings, "LOG_FORMAT", "json"), level=getattr(settings, "LOG_LEVEL", "INFO"))


@signals.worker_init.connect
def _start_tracing(**_kwargs) -> None:
    """With an OTLP endpoint set, trace the worker (tasks, SQL, outbound HTTP); see tracing.py.

    In the main process, before the pool forks: children inherit the instrumentation, and the
    SDK's batch processor restarts its export thread in each child by itself.
    """
    from scm.observability.tracing import configure_from_settings

    configure_from_settings("worker")


@signals.before_task_publish.connect
def _add_correlation_headers(headers: dict | None = None, **_kwargs) -> None:
    if headers is None:
        return
    correlation_id = current_correlation_id()
    if correlation_id and HEADER_CORRELATION_ID not in headers:
        headers[HEADER_CORRELATION_ID] = correlation_id
    actor = current_actor()
    if actor and HEADER_ACTOR not in headers:
        headers[HEADER_ACTOR] = actor


@signals.task_prerun.connect
def _bind_task_context(task_id: str | None = None, task=None, **_kwargs) -> None:
    if task is None or task_id is None:
        return
    request = task.request
    correlation_id = _header(request, HEADER_CORRELATION_ID) or current_correlation_id() or task_id
    actor = _header(request, HEADER_ACTOR) or current_actor() or f"task:{task.name}"
    stack = ExitStack()
    stack.enter_context(event_context(correlation_id=correlation_id, actor=actor))
    tokens = structlog.contextvars.bind_contextvars(request_id=correlation_id, task_id=task_id, task_name=task.name)
    stack.callback(structlog.contextvars.reset_contextvars, **tokens)
    _active.setdefault(task_id, []).append(stack)


def _header(request, name: str) -> str | None:
    """A custom message header: an attribute of the request in a worker, in `.headers` for apply()."""
    return getattr(request, name, None) or (getattr(request, "headers", None) or {}).get(name)


@signals.task_postrun.connect
def _unbind_task_context(task_id: str | None = None, **_kwargs) -> None:
    stacks = _active.get(task_id or "")
    if not stacks:
        return
    stack = stacks.pop()
    if not stacks:
        del _active[task_id]
    stack.close()


@signals.task_failure.connect
def _count_failure(sender=None, **_kwargs) -> None:
    metrics.task_failures.labels(task=getattr(sender, "name", "unknown")).inc()


@signals.task_retry.connect
def _count_retry(sender=None, **_kwargs) -> None:
    metrics.task_retries.labels(task=getattr(sender, "name", "unknown")).inc()


@signals.task_internal_error.connect
def _count_propagated_eager_outcome(sender=None, request=None, exception=None, **_kwargs) -> None:
    """Eager tasks with task_eager_propagates re-raise before task_failure / task_retry are sent.

    Celery reports the re-raised exception through task_internal_error instead; only eager runs
    are counted here, since in a worker a real internal error also sends task_failure.
    """
    eager = request.get("is_eager") if isinstance(request, dict) else getattr(request, "is_eager", False)
    if not eager:
        return
    counter = metrics.task_retries if isinstance(exception, Retry) else metrics.task_failures
    counter.labels(task=getattr(sender, "name", "unknown")).inc()


# --- Worker-side metrics endpoint -------------------------------------------------------------


@signals.worker_init.connect
def _prepare_worker_metrics(**_kwargs) -> None:
    if _worker_metrics_port() and metrics.multiprocess_dir():
        metrics.prepare_multiprocess_dir()


@signals.worker_ready.connect
def _serve_worker_metrics(**_kwargs) -> None:
    """With WORKER_METRICS_PORT set, the worker's main process serves its pool's metrics.

    Task counters move in the pool's child processes; only in multi-process mode can the main
    process see them, so the port is refused without PROMETHEUS_MULTIPROC_DIR.
    """
    port = _worker_metrics_port()
    if not port:
        return
    if not metrics.multiprocess_dir():
        log.error("metrics.worker_endpoint_disabled", reason="WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR")
        return
    from prometheus_client import start_http_server

    address = os.environ.get("WORKER_METRICS_ADDRESS", "127.0.0.1")
    try:
        start_http_server(port, addr=address, registry=metrics.scrape_registry(include_lag=False))
    except OSError as exc:
        log.error("metrics.worker_endpoint_failed", port=port, error=repr(exc))
        return
    log.info("metrics.worker_endpoint_started", address=address, port=port)


@signals.worker_process_shutdown.connect
def _forget_child(pid: int | None = None, **_kwargs) -> None:
    metrics.mark_process_dead(pid or os.getpid())


def _worker_metrics_port() -> int:
    from django.conf import settings

    return int(getattr(settings, "WORKER_METRICS_PORT", 0) or 0)
