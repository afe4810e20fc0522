"""Queueing from a request never fails the caller when the broker is down: the work is recorded,
a sweeper runs it, and the failure is logged."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from celery import Celery

from scm import dispatch


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def unreachable_app():
    app = Celery("dispatch-test", broker=f"redis://127.0.0.1:{closed_port()}/0", set_as_current=False)
    app.conf.broker_connection_timeout = 1
    app.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}

    @app.task(name="dispatch_test.noop")
    def noop(n):
        return n

    yield noop
    app.close()


def test_a_broker_that_refuses_is_logged_and_reported_not_raised(unreachable_app, caplog):
    caplog.set_level(logging.WARNING, logger="scm.dispatch")
    started = time.monotonic()
    assert dispatch.enqueue(unreachable_app, 7, picked_up_by="the sweeper") is False
    assert time.monotonic() - started < 10
    [record] = [r for r in caplog.records if r.name == "scm.dispatch"]
    assert "dispatch_test.noop(7,)" in record.getMessage() and "the sweeper will run it" in record.getMessage()


def test_after_a_refusal_queueing_skips_the_broker_for_a_while(unreachable_app, caplog, settings):
    settings.REDIS_PAUSE_SECONDS = 60
    caplog.set_level(logging.WARNING, logger="scm.dispatch")
    assert dispatch.enqueue(unreachable_app, 1, picked_up_by="the sweeper") is False
    started = time.monotonic()
    assert dispatch.enqueue(unreachable_app, 2, picked_up_by="the sweeper") is False
    assert time.monotonic() - started < 0.05  # no connection attempted: a hung Redis would cost seconds
    assert "skipped (Redis failed moments ago)" in caplog.records[-1].getMessage()


def test_errors_of_the_task_itself_are_not_swallowed():
    app = Celery("dispatch-eager", set_as_current=False)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True

    @app.task(name="dispatch_test.boom")
    def boom():
        raise ValueError("a bug in the task")

    with pytest.raises(ValueError, match="a bug in the task"):
        dispatch.enqueue(boom, picked_up_by="nobody")
