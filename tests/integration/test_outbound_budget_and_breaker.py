"""Time budgets and breakers of `scm.outbound.request` against broken partners on loopback: one that
refuses connections, one that never answers, one that trickles a byte at a time (which a read
timeout alone never stops), one that answers too much. Breakers open, probe once, close, and are
shared by every process through their row.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from pytest_httpserver import HTTPServer

from scm import outbound
from scm.observability import metrics
from scm.outbound.breaker import BreakerPolicy, DbBreaker
from scm.outbound.models import Breaker
from scm.outbound.selectors import breaker_get, breakers_open
from tests.partners import HangingServer, TricklingServer, elapsed, refused_url

ROOT = Path(__file__).resolve().parents[2]
TWO_FAILURES = BreakerPolicy(failure_threshold=2, reset_seconds=30, probe_timeout_seconds=60)


def call(url: str, partner: str, *, total: float = 1.0, max_bytes: int = 4096, breaker=TWO_FAILURES):
    budget = outbound.Budget(connect=0.5, total=total, max_bytes=max_bytes)
    return outbound.request("GET", url, partner=partner, budget=budget, breaker=breaker)


def open_count(kind: str) -> float:
    return metrics.breakers_opened.labels(kind=kind)._value.get()


@pytest.mark.django_db
def test_a_refusing_partner_fails_fast_and_counts_against_its_breaker(unique):
    started = time.monotonic()
    with pytest.raises(outbound.CallFailed, match="Connection refused") as caught:
        call(refused_url(), f"test:{unique}")
    assert caught.value.retryable is True and elapsed(started) < 0.5
    assert breaker_get(name=f"test:{unique}").consecutive_failures == 1


@pytest.mark.django_db
def test_a_partner_that_never_answers_is_cut_off_at_the_total_deadline(unique):
    with HangingServer() as hanging:
        started = time.monotonic()
        with pytest.raises(outbound.DeadlineExceeded, match="1s budget"):
            call(hanging.url, f"test:{unique}", total=1.0)
        assert 0.9 < elapsed(started) < 1.5
        assert hanging.accepted == 1


@pytest.mark.django_db
@pytest.mark.parametrize("trickle_headers", [False, True], ids=["body", "headers"])
def test_a_partner_trickling_bytes_is_cut_off_at_the_total_deadline(unique, trickle_headers):
    # Each byte arrives well within any read timeout; only the total deadline stops the attempt.
    with TricklingServer(interval=0.1, body_length=30, trickle_headers=trickle_headers) as trickling:
        started = time.monotonic()
        with pytest.raises(outbound.DeadlineExceeded):
            call(trickling.url, f"test:{unique}", total=1.0)
        assert 0.9 < elapsed(started) < 1.5
        assert trickling.bytes_sent < 30 + (100 if trickle_headers else 0)
    assert breaker_get(name=f"test:{unique}").last_error.startswith("no complete answer within the 1s budget")


@pytest.mark.django_db
def test_an_answer_above_the_size_cap_is_refused_with_its_status(unique):
    with HTTPServer(host="127.0.0.1", port=0) as server:
        server.expect_request("/big").respond_with_data("x" * 5000)
        with pytest.raises(outbound.ResponseTooLarge, match="4096-byte limit") as caught:
            call(server.url_for("/big"), f"test:{unique}", max_bytes=4096)
        assert caught.value.status_code == 200 and caught.value.retryable is False
        assert call(server.url_for("/big"), f"test:{unique}", max_bytes=5000).content == b"x" * 5000


@pytest.mark.django_db
def test_the_breaker_opens_refuses_without_calling_probes_once_and_closes(unique):
    name = f"test:{unique}"
    opened_before = open_count("test")
    with HangingServer() as hanging:
        for _ in range(2):
            with pytest.raises(outbound.DeadlineExceeded):
                call(hanging.url, name, total=0.3)
        view = breaker_get(name=name)
        assert (view.state, view.consecutive_failures, view.times_opened) == ("open", 2, 1)
        assert name in [b.name for b in breakers_open()]
        assert open_count("test") == opened_before + 1

        with pytest.raises(outbound.CircuitOpen):
            call(hanging.url, name, total=0.3)
        assert hanging.accepted == 2, "an open circuit does not call the partner"

        # Reset time over: one probe goes out; the partner still hangs, so it opens again.
        Breaker.objects.filter(name=name).update(opened_until=timezone.now() - timedelta(seconds=1))
        with pytest.raises(outbound.DeadlineExceeded):
            call(hanging.url, name, total=0.3)
        assert hanging.accepted == 3
        assert breaker_get(name=name).state == "open"

    with HTTPServer(host="127.0.0.1", port=0) as healthy:
        healthy.expect_request("/").respond_with_data("back")
        Breaker.objects.filter(name=name).update(opened_until=timezone.now() - timedelta(seconds=1))
        assert call(healthy.url_for("/"), name).text == "back"
    view = breaker_get(name=name)
    assert (view.state, view.consecutive_failures) == ("closed", 0)
    assert name not in [b.name for b in breakers_open()]


@pytest.mark.django_db
def test_half_open_allows_one_probe_and_a_stuck_probe_is_replaced(unique):
    class Clock:
        now = timezone.now()

        def __call__(self):
            return self.now

    clock = Clock()
    breaker = DbBreaker(f"test:{unique}", BreakerPolicy(failure_threshold=1, reset_seconds=30), now=clock)
    breaker.record_failure("boom", probe=False)
    with pytest.raises(outbound.CircuitOpen):
        breaker.allow()

    clock.now += timedelta(seconds=30)
    assert breaker.allow() is True, "first caller after the reset time is the probe"
    with pytest.raises(outbound.CircuitOpen):
        DbBreaker(f"test:{unique}", now=clock).allow()

    breaker.record_failure("still down", probe=True)
    row = Breaker.objects.get(name=f"test:{unique}")
    assert (row.state, row.opened_until, row.last_error) == ("open", clock.now + timedelta(seconds=30), "still down")

    clock.now += timedelta(seconds=31)
    assert breaker.allow() is True
    clock.now += timedelta(seconds=61)
    assert DbBreaker(f"test:{unique}", now=clock).allow() is True, "a probe that never reported is replaced"


@pytest.mark.postgres
def test_concurrent_callers_at_half_open_get_exactly_one_probe(committed_db, unique):
    name = f"test:{unique}"
    breaker = DbBreaker(name, BreakerPolicy(failure_threshold=1, reset_seconds=30))
    breaker.record_failure("down", probe=False)
    Breaker.objects.filter(name=name).update(opened_until=timezone.now() - timedelta(seconds=1))
    start, outcomes, lock = threading.Barrier(8), [], threading.Lock()

    def caller():
        try:
            start.wait()
            try:
                result = DbBreaker(name).allow()
            except outbound.CircuitOpen:
                result = "refused"
            with lock:
                outcomes.append(result)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(map(str, outcomes)) == ["True"] + ["refused"] * 7


@pytest.mark.postgres
def test_a_breaker_opened_in_one_process_stops_calls_from_another(committed_db, unique):
    name = f"test:{unique}"
    breaker = DbBreaker(name, BreakerPolicy(failure_threshold=2))
    breaker.record_failure("down", probe=False)
    breaker.record_failure("down", probe=False)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
        "SECRET_KEY": "outbound-test",
    }
    script = (
        "from scm import outbound\n"
        "try:\n"
        f"    outbound.request('GET', URL, partner={name!r})\n"
        "    print('CALLED')\n"
        "except outbound.OutboundError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    with HangingServer() as hanging:
        command = [sys.executable, "manage.py", "shell", "-c", f"URL = {hanging.url!r}\n{script}"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.stdout.strip().splitlines()[-1:] == ["CircuitOpen"], done.stderr[-2000:]
        assert hanging.accepted == 0
