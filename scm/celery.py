"""The Celery application. Configuration comes from Django settings (CELERY_* names).

Importing this module also connects the observability receivers (structlog logging, correlation
ids through message headers, task metrics): see scm/observability/celery_hooks.py.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus-client writes its value files there as soon as the metrics module is imported.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from scm.observability import celery_hooks  # noqa: F401 - connects the signal receivers

app = Celery("scm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
