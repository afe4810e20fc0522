"""structlog set up once: JSON lines in production, readable lines in development.

Both structlog loggers and the standard library's (Django, Celery, gunicorn) go through the same
handler and renderer, and every line carries the context variables bound for the request or task
(`request_id`; in tasks also `task_id` and `task_name`). Celery is kept from installing its own
handlers by the `setup_logging` receiver in `scm.observability.celery_hooks`; gunicorn's loggers
are routed here by `scm.observability.gunicorn_conf`. See docs/OBSERVABILITY.md for the fields.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

HANDLER_NAME = "scm"


def add_pid(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Which gunicorn or Celery pool process wrote the line."""
    event_dict["pid"] = os.getpid()
    return event_dict


def add_request_id_from_record(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Give Django's own request log lines the request's id.

    Django logs "Not Found: /x" and other 4xx/5xx lines from its base handler, after every
    middleware has returned and the request's contextvars are gone; the record still carries the
    request, and the request carries the id RequestContextMiddleware gave it.
    """
    if "request_id" not in event_dict:
        record = event_dict.get("_record")
        request_id = getattr(getattr(record, "request", None), "request_id", None)
        if request_id:
            event_dict["request_id"] = request_id
    return event_dict


def configure(*, log_format: str = "json", level: str = "INFO", stream: TextIO | None = None) -> None:
    """(Re)install the one root handler. Safe to call again: it replaces, never stacks, handlers."""
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        add_pid,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (
        structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, add_request_id_from_record],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("django.db.backends").setLevel("INFO")
    # Django's own handlers are not installed (LOGGING_CONFIG = None); its loggers propagate here.
    for name in ("django", "django.request", "django.server", "celery", "celery.task", "gunicorn.error"):
        logging.getLogger(name).propagate = True


def root_handler() -> logging.Handler | None:
    """The handler `configure()` installed (tests swap its stream to read what was logged)."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == HANDLER_NAME:
            return handler
    return None
