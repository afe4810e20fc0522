"""The Celery application. Configuration comes from Django settings (CELERY_* names).

Importing this module also connects the observability receivers (structlog logging, correlation
ids through message headers, task metrics): see scm/observability/celery_hooks.py.
"""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus-client writes its value files there as soon as the metrics module is imported.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from scm.observability import celery_hooks  # noqa: F401 - connects the signal receivers

app = Celery("scm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _restore_unacked_without_a_connection() -> None:
    """kombu's Redis QoS restores a closing channel's unacknowledged messages through the channel's
    connection; when Redis went away that connection is already gone and the AttributeError it
    raises kills the whole worker ("Unrecoverable error"), seen when Redis restarted mid-burst. The
    messages stay in kombu's unacked hash (restored after the visibility timeout) and the sweepers
    run the work anyway, so the worker logs it and keeps going instead. Applied when a worker starts
    (importing kombu's Redis transport elsewhere would load the redis client, and OpenTelemetry's SDK
    with it, into every web process)."""
    import logging

    from kombu.transport import redis as kombu_redis

    original = kombu_redis.QoS.restore_unacked

    def restore_unacked(self, client=None):
        try:
            return original(self, client)
        except AttributeError as exc:
            logging.getLogger(__name__).warning("could not restore unacked messages (broker gone): %s", exc)
            return None

    kombu_redis.QoS.restore_unacked = restore_unacked


@worker_init.connect
def _patch_kombu_for_workers(**_) -> None:
    _restore_unacked_without_a_connection()
