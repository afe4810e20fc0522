"""A periodic task's body runs alone, under a lease on real Redis (scm/periodic.py): a second run
while the first holds the lock does nothing; a live holder keeps its lease past its length; a
holder that died (a real process, SIGKILLed) lets the lock go within one lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from celery import shared_task

from scm import periodic
from scm.periodic import PeriodicTask

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
LEASE = 1.5


class Probe:
    """What the probe tasks' bodies do: count runs, and block while `hold` is clear."""

    runs = 0
    entered = threading.Event()
    hold = threading.Event()


@shared_task(name="tests.periodic_probe", base=PeriodicTask)
def periodic_probe() -> int:
    Probe.runs += 1
    Probe.entered.set()
    assert Probe.hold.wait(timeout=30)
    return Probe.runs


@shared_task(name="tests.periodic_probe_kicked", base=PeriodicTask, rerun_if_skipped=True)
def periodic_probe_kicked() -> int:
    return periodic_probe.run()


@pytest.fixture(autouse=True)
def on_redis(settings):
    settings.REDIS_URL = os.environ["TEST_REDIS_URL"]
    settings.PERIODIC_LOCK_LEASE_SECONDS = LEASE
    client = redis.Redis.from_url(settings.REDIS_URL)
    names = ("tests.periodic_probe", "tests.periodic_probe_kicked")
    prefixes = (periodic.LOCK_PREFIX, periodic.AGAIN_PREFIX, periodic.QUEUED_PREFIX)
    keys = [prefix + name for prefix in prefixes for name in names]
    client.delete(*keys)
    Probe.runs = 0
    Probe.entered.clear()
    Probe.hold.clear()
    yield client
    Probe.hold.set()
    client.delete(*keys)


def run_in_thread(task) -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(task()), daemon=True)
    thread.start()
    assert Probe.entered.wait(timeout=10)
    return thread, results


def test_a_run_while_the_previous_one_holds_the_lock_does_nothing(on_redis):
    first, results = run_in_thread(periodic_probe)

    assert periodic_probe() is None  # the overlapping tick: skipped, its body never entered
    assert Probe.runs == 1

    Probe.hold.set()
    first.join(timeout=10)
    assert results == [1]
    assert periodic_probe() == 2  # the lock went with the first run


def test_a_live_holder_keeps_its_lease_past_its_length(on_redis):
    first, _ = run_in_thread(periodic_probe)
    time.sleep(LEASE * 2.5)  # renewed every third of the lease meanwhile

    assert periodic_probe() is None
    assert Probe.runs == 1
    Probe.hold.set()
    first.join(timeout=10)


def test_a_kick_skipped_by_a_run_in_progress_gets_one_more_run_after_it(on_redis):
    first, results = run_in_thread(periodic_probe_kicked)

    assert periodic_probe_kicked() is None
    assert periodic_probe_kicked() is None  # several skipped kicks ask for one run, not several
    Probe.hold.set()
    first.join(timeout=10)

    # The holder asked for the follow-up when it finished (run inline here: the app is eager).
    assert Probe.runs == 2
    assert results == [1]
    assert not on_redis.exists(periodic.AGAIN_PREFIX + "tests.periodic_probe_kicked")


def test_the_lock_of_a_holder_that_died_expires_after_its_lease(on_redis, tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django, time; django.setup(); from scm import periodic\n"
            f"with periodic.held('tests.periodic_probe', lease={LEASE}):\n"
            "    print('held', flush=True); time.sleep(60)",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "scm.settings",
            "REDIS_URL": os.environ["TEST_REDIS_URL"],
            "SECRET_KEY": "periodic-lock-test",
        },
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "holder.log").open("w"),
        start_new_session=True,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held", (tmp_path / "holder.log").read_text()[-2000:]
        time.sleep(LEASE)  # the live holder renews past one lease
        assert periodic_probe() is None
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        died = time.monotonic()
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)

    Probe.hold.set()
    while (result := periodic_probe()) is None:
        assert time.monotonic() - died < LEASE + 2, "the dead holder's lock never expired"
        time.sleep(0.05)
    assert result == 1
    assert time.monotonic() - died <= LEASE + 0.5
