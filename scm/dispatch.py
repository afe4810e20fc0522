"""Handing work to a worker from a request (or any committed change) without failing the caller.

The work is already recorded in the database when we queue its task (the order and its due
workflow step, the outbox entry, the stored message), and a sweeper picks up whatever was not
queued. So when the broker does not answer (Redis restarting), queueing is only a delay: it is
logged and the caller still gets its answer. Never a 500 for an order that was created.
Errors raised by the task itself (Celery eager: it runs inline) are not caught here.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import Task
from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

from scm import redis_pause

log = logging.getLogger(__name__)

# One reconnect (a pooled connection that died with a Redis restart is replaced), no more: a sweeper
# stands behind every caller, and Celery's default of three retries, each waiting out the broker's
# socket timeout, held a request ~25 s while Redis hung (docs/ARCHITECTURE.md "When Redis restarts").
RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def enqueue(task: Task, *args, picked_up_by: str, **options) -> bool:
    """Queue `task(*args)` now; False (logged) when the broker cannot take it. `picked_up_by` names
    what runs the work anyway (for the log line)."""
    if redis_pause.paused() and not task.app.conf.task_always_eager:  # eager runs inline: no Redis
        log.warning("queueing %s%r skipped (Redis failed moments ago); %s will run it", task.name, args, picked_up_by)
        return False
    try:
        task.apply_async(args, **{"retry_policy": RETRY_POLICY, **options})
    except BrokerError as exc:  # kombu raises its connection errors (Redis's too) as this
        redis_pause.failed()
        log.warning("queueing %s%r failed (%s); %s will run it", task.name, args, exc, picked_up_by)
        return False
    return True


def enqueue_after_commit(task: Task, *args, picked_up_by: str, **options) -> None:
    """`enqueue` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(partial(enqueue, task, *args, picked_up_by=picked_up_by, **options))
