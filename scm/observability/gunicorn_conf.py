"""gunicorn configuration: `gunicorn -c scm/observability/gunicorn_conf.py scm.wsgi`.

- Metrics stay correct with several workers: prometheus-client's multi-process mode is switched on
  here, before any worker imports it, with a fresh directory per gunicorn run (PROMETHEUS_MULTIPROC_DIR
  if given, else a new temporary directory), and `child_exit` tells it when a worker died.
- gunicorn's own log lines go through the project's structlog handler (JSON in production); the
  access log is off because RequestContextMiddleware logs every request with its request_id.

Environment: PORT (8000), WEB_CONCURRENCY (worker count, read by gunicorn; 2 here when unset),
GUNICORN_TIMEOUT (30 s), LOG_FORMAT / LOG_LEVEL as for the rest of the project.
"""

from __future__ import annotations

import os
import tempfile

# Must happen before prometheus_client is imported anywhere in this process or its workers.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="scm-metrics-")
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")

from gunicorn.glogging import Logger  # noqa: E402

from scm.observability import metrics  # noqa: E402
from scm.observability.logging import configure  # noqa: E402

configure(
    log_format=os.environ.get("LOG_FORMAT") or ("console" if os.environ.get("DEBUG", "") in {"1", "true"} else "json"),
    level=os.environ.get("LOG_LEVEL", "INFO"),
)

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = None


class StructlogLogger(Logger):
    """gunicorn's logger, with its error log sent to the root handler instead of its own."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            logger.handlers.clear()
            logger.propagate = True


logger_class = StructlogLogger


def on_starting(server) -> None:
    metrics.prepare_multiprocess_dir()


def child_exit(server, worker) -> None:
    metrics.mark_process_dead(worker.pid)
