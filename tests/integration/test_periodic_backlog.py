"""Workers stopped, beat still ticking, then a worker comes back: at most one run of each periodic
task is waiting, and the stale ticks are discarded unrun (scm/periodic.py, issue 12 "Worker stopped
60 s then restarted").

Scaled down: the issue's 60 s outage at beat's real intervals (2 s to 5 min) becomes 12 s at 1 s
intervals for every entry, so each periodic task misses ~12 ticks, as process_subscriptions (2 s)
misses 30 in a minute. Expiry is a share of each entry's interval, so the outcome does not depend on
the scale: what is tested is "many ticks missed, at most one left to run".

Real processes: `celery beat` and a `celery worker` on Redis against the test database.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from scm import queues

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 12
INTERVAL = "1"
RAN = re.compile(r"Task ([\w.]+)\[[^\]]+\] (?:succeeded|raised|retry)")
DISCARDED = re.compile(r"Discarding revoked task: ([\w.]+)\[")
INTERVAL_SETTINGS = (
    "SHIPMENT_LATE_CHECK_SECONDS",
    "CARRIER_FEED_POLL_SECONDS",
    "TRACKING_REPROCESS_SECONDS",
    "WORKFLOW_SWEEP_SECONDS",
    "SUPPLIER_POLL_TICK_SECONDS",
    "SUBSCRIPTION_POLL_SECONDS",
    "WEBHOOK_POLL_SECONDS",
    "IDEMPOTENCY_PURGE_SECONDS",
    "PARTNER_OUTBOX_SWEEP_SECONDS",
)


def poll(condition, *, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def celery(env: dict, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "scm", *args, "--loglevel=INFO"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


def queued_messages(client: redis.Redis) -> list[dict]:
    """Every message waiting in our queues: its task name and when it expires."""
    messages = []
    for queue in queues.ALL:
        for raw in client.lrange(queue, 0, -1):
            headers = json.loads(raw)["headers"]
            expires = datetime.fromisoformat(headers["expires"]) if headers.get("expires") else None
            messages.append({"queue": queue, "task": headers["task"], "expires": expires})
    return messages


def test_after_an_outage_at_most_one_run_per_periodic_task_is_waiting(committed_db, tmp_path):
    client = redis.Redis.from_url(os.environ["TEST_REDIS_URL"])
    client.delete(*queues.ALL, *client.keys("scm:periodic:*"))
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "SECRET_KEY": "backlog-test",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "ORDER_WORKFLOW_AUTORUN": "0",
        "EVENT_DISPATCH_ON_COMMIT": "0",
        **dict.fromkeys(INTERVAL_SETTINGS, INTERVAL),
    }
    periodic_tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    beat = celery(env, tmp_path / "beat.log", "beat", f"--schedule={tmp_path / 'beat-schedule'}")
    try:
        # From beat's first tick of every entry (starting Django takes a while on a loaded machine).
        poll(
            lambda: {message["task"] for message in queued_messages(client)} == periodic_tasks,
            seconds=120,
            what="beat's first tick of every entry",
        )
        time.sleep(OUTAGE_SECONDS)  # no worker consumes meanwhile
    finally:
        stop(beat)
    beat_log = (tmp_path / "beat.log").read_text()

    waiting = queued_messages(client)
    now = datetime.now(UTC)
    sent = Counter(message["task"] for message in waiting)
    live = Counter(message["task"] for message in waiting if message["expires"] is None or message["expires"] > now)
    assert set(sent) == periodic_tasks, beat_log[-3000:]
    for task in periodic_tasks:
        assert sent[task] >= OUTAGE_SECONDS // 2, (task, sent, beat_log[-3000:])  # many ticks missed...
        assert live[task] <= 1, (task, live)  # ...at most one of them still due to run
    for message in waiting:
        assert message["queue"] == queues.TASK_QUEUES[message["task"]]

    worker = celery(env, tmp_path / "worker.log", "worker", "--pool=solo", "--without-gossip", "--without-mingle")
    log = tmp_path / "worker.log"
    try:
        poll(lambda: sum(client.llen(queue) for queue in queues.ALL) == 0, seconds=90, what="the queues to drain")

        def outcomes() -> tuple[Counter, Counter] | None:
            text = log.read_text()
            ran = Counter(t for t in RAN.findall(text) if t in periodic_tasks)
            discarded = Counter(t for t in DISCARDED.findall(text) if t in periodic_tasks)
            return (ran, discarded) if ran.total() + discarded.total() >= len(waiting) else None

        ran, discarded = poll(outcomes, seconds=30, what="every queued message to be run or discarded")
    finally:
        stop(worker)

    for task in periodic_tasks:
        assert ran[task] <= 1, (task, ran, log.read_text()[-3000:])
        assert ran[task] + discarded[task] == sent[task], (task, ran, discarded, sent)
