"""The correlation id crosses a real broker into a real Celery worker process.

A `celery -A scm worker` subprocess consumes from Redis (TEST_REDIS_URL) and writes to this test's
PostgreSQL database; the test publishes tasks from its own process inside an event context and
polls, with a deadline, for what the worker did: the event it appended, its JSON log lines, and
its metrics endpoint (multi-process mode in the worker's prefork pool).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from celery.exceptions import AlwaysEagerIgnored
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from scm.celery import app
from scm.events.context import event_context
from scm.events.models import Event

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], *, worker_log: Path, timeout: float = DEADLINE_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.1)
    tail = worker_log.read_text(errors="replace")[-4000:] if worker_log.exists() else "(no output)"
    raise AssertionError(f"timed out waiting for {what}; worker output ends with:\n{tail}")


def json_lines(path: Path) -> list[dict]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue
    return lines


def database_url_of_this_run() -> str:
    params = connection.settings_dict
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return (
        f"postgres://{params['USER']}{password}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/"
        f"{params['NAME']}"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def worker(committed_db, tmp_path, unique) -> Iterator[dict]:
    queue = f"obs-test-{unique}"
    metrics_port = free_port()
    worker_log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scm.settings",
        "SECRET_KEY": "worker-test",
        "DEBUG": "",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "DATABASE_URL": database_url_of_this_run(),
        "EVENT_DISPATCH_ON_COMMIT": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker-metrics"),
        "WORKER_METRICS_PORT": str(metrics_port),
    }
    command = [
        sys.executable, "-m", "celery", "-A", "scm", "worker",
        "--pool", "prefork", "--concurrency", "1",
        "--queues", queue, "--hostname", f"{queue}@%h",
        "--include", "tests.integration.test_observability",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    with worker_log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(
            "the worker to be ready",
            lambda: True if process.poll() is None and "ready." in worker_log.read_text(errors="replace") else None,
            worker_log=worker_log,
        )
        yield {"queue": queue, "log": worker_log, "metrics_port": metrics_port}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def publish(name: str, args: tuple, *, queue: str, correlation_id: str, actor: str) -> str:
    """Send through the real broker from this (eager-configured) process, inside an event context."""
    with (
        app.connection_for_write(os.environ["TEST_REDIS_URL"]) as broker,
        event_context(correlation_id=correlation_id, actor=actor),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", AlwaysEagerIgnored)
        return app.send_task(name, args=args, queue=queue, connection=broker).id


def test_correlation_id_reaches_a_real_workers_events_and_logs(worker, unique):
    stream, correlation_id = f"obs-worker-{unique}", f"abc-{unique}"

    task_id = publish(
        "tests.observability.record_event",
        (stream, 11),
        queue=worker["queue"],
        correlation_id=correlation_id,
        actor="user:worker-test",
    )

    event = wait_for(
        "the event the task appends",
        lambda: Event.objects.filter(stream=stream).first(),
        worker_log=worker["log"],
    )
    assert event.payload == {"n": 11, "note": "from task"}
    assert event.metadata == {"correlation_id": correlation_id, "actor": "user:worker-test"}

    task_line = wait_for(
        "the task's log line",
        lambda: next(
            (line for line in json_lines(worker["log"]) if line.get("event") == "test.task.ran"
             and line.get("stream") == stream),
            None,
        ),
        worker_log=worker["log"],
    )  # fmt: skip
    assert task_line["request_id"] == correlation_id
    assert task_line["task_id"] == task_id
    assert task_line["task_name"] == "tests.observability.record_event"
    assert task_line["level"] == "info"

    succeeded = wait_for(
        "Celery's own success line",
        lambda: next(
            (line for line in json_lines(worker["log"]) if line.get("logger") == "celery.app.trace"
             and line.get("task_id") == task_id),
            None,
        ),
        worker_log=worker["log"],
    )  # fmt: skip
    assert succeeded["request_id"] == correlation_id
    assert "succeeded" in succeeded["event"]


def test_a_real_workers_task_failure_is_logged_with_the_id_and_counted(worker, unique):
    correlation_id = f"fail-{unique}"

    task_id = publish(
        "tests.observability.fail",
        (f"broken {unique}",),
        queue=worker["queue"],
        correlation_id=correlation_id,
        actor="user:worker-test",
    )

    failure_line = wait_for(
        "the failure log line",
        lambda: next(
            (line for line in json_lines(worker["log"]) if line.get("task_id") == task_id
             and line.get("level") == "error"),
            None,
        ),
        worker_log=worker["log"],
    )  # fmt: skip
    assert failure_line["request_id"] == correlation_id
    assert f"broken {unique}" in failure_line["exception"]

    failures = ("scm_celery_task_failures_total", (("task", "tests.observability.fail"),))
    samples = wait_for(
        "the worker's failure counter",
        lambda: found if (found := scrape(worker["metrics_port"])) and found.get(failures) == 1.0 else None,
        worker_log=worker["log"],
    )
    assert samples[failures] == 1.0
