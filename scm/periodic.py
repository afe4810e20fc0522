"""Periodic work never piles up (docs/ARCHITECTURE.md "Queues").

Three guards, one for each way beat work used to accumulate while workers were busy or down:

1. Every beat entry expires before its next tick (`beat_schedule`). A message no worker took in time
   is discarded unrun by the worker that finally reads it; the next tick brings a fresh one. So
   after any outage at most one run per periodic task is still waiting to run.
2. The body of a periodic task runs under a leased lock (`PeriodicTask`, the base of every task beat
   runs): a run that finds the previous one still going does nothing. The lock is one Redis key set
   with NX and a lease, renewed while the body runs and released only by the token that took it
   (redis-py's Lock); a worker that dies stops renewing it, and the key expires within one lease.
3. Kicks after commits (`kick`) are coalesced: at most one kicked message per task waits in its
   queue, and a kick that arrives while a run holds the lock asks the holder for one more run, so
   work committed during a run is not left waiting for the next tick.

Without REDIS_URL (the embedded default) Celery runs every task inline in its caller: nothing can
queue up, and the lock is a no-op so that nesting (a subscriber's commit kicking subscriptions)
keeps working as it always has.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery import Task
from django.conf import settings

from scm import dispatch, redis_pause

log = logging.getLogger(__name__)

LOCK_PREFIX = "scm:periodic:lock:"
QUEUED_PREFIX = "scm:periodic:queued:"  # a kicked message of this task is waiting in its queue
AGAIN_PREFIX = "scm:periodic:again:"  # a kick was skipped by a run in progress: run once more

# A tick's message lives for this share of the interval: gone before the next tick arrives, yet long
# enough for a worker that is merely busy to take it.
EXPIRY_SHARE = 0.9
# Kicked tasks beat does not schedule expire after this long.
DEFAULT_EXPIRES_SECONDS = 30.0

_clients: dict = {}


def interval_seconds(schedule) -> float:
    """A beat entry's interval in seconds: a number, a timedelta or a celery `schedule`."""
    if isinstance(schedule, int | float):
        return float(schedule)
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    run_every = getattr(schedule, "run_every", None)
    if isinstance(run_every, timedelta):
        return run_every.total_seconds()
    raise ValueError(f"a periodic entry needs a fixed interval to expire within it, not {schedule!r}")


def expires_for(interval: float) -> float:
    return round(interval * EXPIRY_SHARE, 3)


def beat_schedule(entries: dict[str, dict]) -> dict[str, dict]:
    """CELERY_BEAT_SCHEDULE: the entries, each with `expires` below its interval."""
    return {
        name: {
            **entry,
            "options": {**entry.get("options", {}), "expires": expires_for(interval_seconds(entry["schedule"]))},
        }
        for name, entry in entries.items()
    }


def _redis():
    """The lock store, or None on the embedded default (no Redis: tasks run inline)."""
    url = settings.REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return client


def _renew(lock, lease: float, stop: threading.Event) -> None:
    """Keep the lease alive while its run goes on: only a dead holder lets it lapse."""
    from redis.exceptions import LockError, RedisError

    while not stop.wait(lease / 3):
        try:
            lock.reacquire()
        except LockError:
            log.warning("periodic lock %s was lost while its run went on", lock.name)
            return
        except RedisError as exc:  # Redis away for a moment: the next renewal may still make it
            log.warning("could not renew periodic lock %s: %s", lock.name, exc)


@contextmanager
def held(name: str, *, lease: float) -> Iterator[bool]:
    """Yield True while this process holds the lease named `name`, False if another holder has it.

    The lease is renewed every third of its length while the block runs, so a long run keeps it and
    a holder that died loses it after at most `lease` seconds.
    """
    client = _redis()
    if client is None:
        yield True
        return
    from redis.exceptions import LockError

    # Not thread-local: the renewing thread must see the token the run took.
    lock = client.lock(LOCK_PREFIX + name, timeout=lease, blocking=False, thread_local=False)
    if not lock.acquire():
        yield False
        return
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, lease, stop), name=f"lease {name}", daemon=True)
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        try:
            lock.release()
        except LockError:
            log.warning("periodic lock %s had lapsed before its run ended", name)


def _expires_of(task_name: str) -> float:
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] == task_name:
            return entry.get("options", {}).get("expires", DEFAULT_EXPIRES_SECONDS)
    return DEFAULT_EXPIRES_SECONDS


def kick(task: Task) -> None:
    """Ask for a run of a periodic task now (after a commit), unless one is already waiting."""
    client = _redis()
    if client is None:
        task.delay()
        return
    from redis.exceptions import RedisError

    expires = _expires_of(task.name)
    if redis_pause.paused():  # Redis failed moments ago (scm/redis_pause.py); beat's next tick does the work
        return
    try:
        waiting = not client.set(QUEUED_PREFIX + task.name, "1", nx=True, px=int(expires * 1000))
    except RedisError as exc:  # the commit is done; beat's next tick does the work
        redis_pause.failed()
        log.warning("could not kick %s: %s", task.name, exc)
        return
    if not waiting:
        dispatch.enqueue(task, picked_up_by="beat's next tick", expires=expires)


class PeriodicTask(Task):
    """Base of every task beat runs: its body runs alone, under a lease (see the module docstring).

    A run that finds the lock taken returns None at once. `rerun_if_skipped` (tasks that commits
    also kick) makes the skipped run ask the holder to run once more when it is done.
    """

    rerun_if_skipped = False

    def __call__(self, *args, **kwargs):
        client = _redis()
        if client is None:
            return super().__call__(*args, **kwargs)
        client.delete(QUEUED_PREFIX + self.name)  # from now on a kick queues a new message
        lease = settings.PERIODIC_LOCK_LEASE_SECONDS
        with held(self.name, lease=lease) as mine:
            if not mine:
                if self.rerun_if_skipped:
                    client.set(AGAIN_PREFIX + self.name, "1", px=int(lease * 1000))
                log.info("%s skipped: its previous run is still going", self.name)
                return None
            result = super().__call__(*args, **kwargs)
        if self.rerun_if_skipped and client.delete(AGAIN_PREFIX + self.name):
            kick(self)
        return result
