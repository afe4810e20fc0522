"""Runtime figures of the running system, read the same way by /readyz and by /metrics.

- queue depth per Celery queue (scm.queues.ALL), read from Redis, where kombu keeps each queue as a
  list named after it plus one list per priority step;
- the oldest due workflow step: a fulfillment step whose time has come and that no worker holds;
- partner circuit breakers that are not closed;
- workflows waiting for configuration (a carrier, TMS access), by reason.

Each figure is one cheap probe (one Redis round trip, one indexed query), so a load balancer may
call /readyz every few seconds. `fulfillment_stalls()` turns the figures into the reasons readiness
fails, each naming what is stuck and the threshold it passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from scm import queues
from scm.outbound.selectors import BreakerView, breakers_open

EAGER = "eager"  # no broker: tasks run inside the process that sends them, nothing can queue up


@dataclass(frozen=True)
class DueStep:
    order_id: int
    step: str
    due_since: datetime
    age_seconds: float

    def as_json(self) -> dict:
        return {
            "order_id": self.order_id,
            "step": self.step,
            "due_since": self.due_since.isoformat(),
            "age_seconds": round(self.age_seconds, 1),
        }


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu's redis transport keeps for `queue`: the queue's name for priority 0,
    `<name>\\x06\\x16<step>` for each other priority step, each behind the broker's global key prefix.

    Read from kombu and the broker's transport options, so the names follow the transport's.
    """
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    from scm.celery import app

    options = app.conf.broker_transport_options or {}
    prefix = options.get("global_keyprefix", "")
    steps = options.get("priority_steps", PRIORITY_STEPS)
    return [f"{prefix}{queue}" if not step else f"{prefix}{queue}{Channel.sep}{step}" for step in steps]


def queue_depths(*, redis_url: str | None = None) -> dict[str, int] | str:
    """Messages waiting in each queue of scm.queues.ALL, or EAGER without a broker.

    Messages a worker has taken but not acknowledged yet are not waiting and not counted. One
    pipeline of LLENs, one round trip; a Redis error propagates (the broker check names it).
    """
    import redis

    url = settings.REDIS_URL if redis_url is None else redis_url
    if not url:
        return EAGER
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in queues.ALL:
                for key in queue_keys(queue):
                    pipe.llen(key)
            sizes = iter(pipe.execute())
    finally:
        client.close()
    return {queue: sum(next(sizes) for _ in queue_keys(queue)) for queue in queues.ALL}


def oldest_due_step(*, now: datetime | None = None) -> DueStep | None:
    """The runnable workflow step that has been due longest and that no live lease holds.

    The same condition as orders.workflow.due_workflows(), read through the index on
    next_attempt_at (oldest first, one row): a healthy system picks due steps up within a sweep.
    Workflows waiting for configuration are left out: their next_attempt_at is their next
    re-check, not work a worker owes (they are reported by waiting_for_configuration()).
    """
    from orders.models import FulfillmentWorkflow
    from orders.workflow import RUNNABLE_STEPS

    now = now or timezone.now()
    row = (
        FulfillmentWorkflow.objects.filter(step__in=RUNNABLE_STEPS, next_attempt_at__lte=now, waiting_for="")
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values("order_id", "step", "next_attempt_at")
        .first()
    )
    if row is None:
        return None
    age = (now - row["next_attempt_at"]).total_seconds()
    return DueStep(order_id=row["order_id"], step=row["step"], due_since=row["next_attempt_at"], age_seconds=age)


def waiting_for_configuration() -> dict:
    """Workflows held by a configuration gap: count per reason and when the oldest wait began.

    Reported, never a reason for readiness to fail: the gap is closed through this instance's
    admin or API (marking a carrier default), so taking it out of rotation would remove the fix.
    """
    from orders.selectors import oldest_waiting_since, waiting_counts

    counts = waiting_counts()
    since = oldest_waiting_since() if counts else None
    return {"reasons": counts, "oldest_since": since.isoformat() if since else None}


def open_breakers() -> list[BreakerView]:
    """Partner circuits that are open or half open, by name."""
    return breakers_open()


def breaker_as_json(breaker: BreakerView) -> dict:
    """`since`: the failure that opened the circuit, or re-opened it after a failed probe (calls
    refused while open record no failure, so the last failure is when this open spell began)."""
    return {
        "name": breaker.name,
        "kind": breaker.kind,
        "state": breaker.state,
        "since": breaker.last_failure_at.isoformat() if breaker.last_failure_at else None,
        "until": breaker.opened_until.isoformat() if breaker.opened_until else None,
        "last_error": breaker.last_error[:300],
    }


def fulfillment_stalls(*, due: DueStep | None, depths: dict[str, int] | str) -> list[str]:
    """Why fulfillment counts as stalled, one reason per threshold passed; empty when it flows.

    Open breakers are not a reason: a partner that is down (a webhook receiver, a supplier feed)
    is the partner's problem, and taking this instance out of rotation would not bring it back;
    it would only stop the API and the dashboard too. Breakers are reported beside, for people.
    Work that a broken partner really holds up shows here anyway, as due steps that grow old.
    """
    stalls = []
    max_age = settings.READINESS_MAX_DUE_STEP_AGE_SECONDS
    if due is not None and max_age >= 0 and due.age_seconds > max_age:
        stalls.append(
            f"the oldest due workflow step (order {due.order_id}, {due.step}) has waited "
            f"{due.age_seconds:.0f} s for a worker (more than {max_age})"
        )
    max_depth = settings.READINESS_MAX_WORKFLOW_QUEUE_DEPTH
    if isinstance(depths, dict) and max_depth >= 0 and depths.get(queues.WORKFLOW, 0) > max_depth:
        stalls.append(f"the {queues.WORKFLOW} queue holds {depths[queues.WORKFLOW]} messages (more than {max_depth})")
    return stalls
