"""Metrics stay correct under gunicorn with several worker processes (prometheus multi-process mode).

Runs the real `gunicorn -c scm/observability/gunicorn_conf.py scm.wsgi` with two workers on a free
loopback port against a migrated SQLite file, sends requests in parallel batches until both
workers have served some, and checks that one scrape of /metrics sums to N whichever worker answers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 60
MIN_REQUESTS = 40
BATCH = 8


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, request_id: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"X-Request-ID": request_id} if request_id else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.fixture
def gunicorn(tmp_path) -> Iterator[dict]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scm.settings",
        "SECRET_KEY": "gunicorn-test",
        "DEBUG": "",
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "REDIS_URL": "",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    port = free_port()
    output_path = tmp_path / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn", "-c", "scm/observability/gunicorn_conf.py",
        "--bind", f"127.0.0.1:{port}", "--no-control-socket", "scm.wsgi",
    ]  # fmt: skip
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            assert process.poll() is None, output_path.read_text(errors="replace")[-3000:]
            try:
                if get(f"{base}/healthz")[0] == 200 and len(_booted_workers(output_path)) == 2:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, "gunicorn not ready:\n" + output_path.read_text(errors="replace")
            time.sleep(0.1)
        yield {"base": base, "log": output_path, "env": env}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _booted_workers(log_path: Path) -> set[int]:
    return {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log_path.read_text(errors="replace"))}


def log_lines(log_path: Path) -> list[dict]:
    return [json.loads(line) for line in log_path.read_text(errors="replace").splitlines() if line.startswith("{")]


def healthz_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "scm_http_request_duration_seconds_count" and sample.labels == {
                "route": "healthz",
                "method": "GET",
                "status_class": "2xx",
            }:
                return sample.value
    return 0.0


def test_metrics_sum_requests_across_gunicorn_workers(gunicorn):
    base, log_path = gunicorn["base"], gunicorn["log"]
    workers = _booted_workers(log_path)
    assert len(workers) == 2
    before = healthz_count(get(f"{base}/metrics")[1])

    # Parallel batches until both workers have served some (the kernel picks who accepts).
    sent, served_by = 0, set()
    deadline = time.monotonic() + DEADLINE_SECONDS
    with ThreadPoolExecutor(max_workers=BATCH) as pool:
        while len(served_by) < 2 or sent < MIN_REQUESTS:
            assert time.monotonic() < deadline, f"only workers {served_by} served requests"
            ids = [f"mp-{sent + i}" for i in range(BATCH)]
            assert list(pool.map(lambda request_id: get(f"{base}/healthz", request_id)[0], ids)) == [200] * BATCH
            sent += BATCH
            served_by = {
                line["pid"]
                for line in log_lines(log_path)
                if line.get("event") == "http.request" and line.get("request_id", "").startswith("mp-")
            }
    assert served_by == workers

    for _ in range(6):  # whichever worker answers the scrape reports the same total
        status, text = get(f"{base}/metrics")
        assert status == 200
        assert healthz_count(text) - before == sent

    # gunicorn's own lines went through the same JSON handler.
    assert any(
        line.get("logger") == "gunicorn.error" and "Booting worker" in line["event"] for line in log_lines(log_path)
    )
