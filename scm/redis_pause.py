"""After Redis fails a call, this process leaves it alone for a few seconds.

A request touches Redis up to three times: the throttle's cache read and write, queueing its
workflow step, the subscription kick. While Redis refuses connections each failure is immediate,
but while it hangs each one waits out its socket timeout, ~13 s a request, and a few gunicorn
workers then serve a few requests a minute. So the first failure pauses all three in this process
for `REDIS_PAUSE_SECONDS`: requests skip what Redis would have done (the throttle lets them through,
the sweeper and beat run the work) and answer at database speed; after the pause the next call
tries Redis again. Per process and without locks: a gunicorn worker serves one request at a time,
and a race only costs one more try.
"""

from __future__ import annotations

import time

from django.conf import settings

_until = 0.0


def paused() -> bool:
    """True while a recent failure says Redis is away: skip the call."""
    return time.monotonic() < _until


def failed() -> None:
    """Redis just failed a call: pause every caller in this process."""
    global _until
    _until = time.monotonic() + settings.REDIS_PAUSE_SECONDS


def reset() -> None:
    """Forget a failure (tests: one test's refused Redis must not pause the next)."""
    global _until
    _until = 0.0
