"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.http import JsonResponse


def healthz(request):
    """The process is alive and serving; touches nothing else."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready when every dependency answers and fulfillment flows; 503 naming each failing check.

    Subscription lag counts as a dependency: a projection far behind the log means the answers
    this instance gives (balances, dashboard figures) are stale. `fulfillment` fails when due
    workflow steps wait too long or the workflow queue is too deep (scm.observability.runtime);
    the `runtime` section reports queue depths, the oldest due step and open breakers either way.
    """
    checks = {"database": _check_database()}
    if settings.REDIS_URL:
        checks["broker"] = _check_broker()
    body: dict = {}
    if not checks["database"]:
        checks["subscriptions"] = _check_subscription_lag()
        checks["fulfillment"], body["runtime"] = _check_fulfillment(broker_down=bool(checks.get("broker")))
    if settings.NATS_URL and not checks["database"]:
        from scm.bus.health import check_event_relay

        checks["event_relay"] = check_event_relay()
    failing = {name: error for name, error in checks.items() if error}
    body = {
        "status": "unavailable" if failing else "ok",
        "checks": {name: (error or "ok") for name, error in checks.items()},
        **body,
    }
    return JsonResponse(body, status=503 if failing else 200)


def _check_fulfillment(*, broker_down: bool) -> tuple[str, dict]:
    """The stall reasons (empty: flowing) and the runtime figures they were decided on."""
    from scm.observability import runtime

    figures: dict = {}
    if broker_down:
        depths: dict[str, int] | str = "unavailable: the broker does not answer"
    else:
        try:
            depths = runtime.queue_depths()
        except Exception as exc:  # noqa: BLE001 - the queues stay unknown; the broker check names the cause
            depths = f"unavailable: {_describe(exc)}"
    figures["queues"] = depths
    try:
        due = runtime.oldest_due_step()
        figures["oldest_due_step"] = due.as_json() if due else None
        figures["open_breakers"] = [runtime.breaker_as_json(b) for b in runtime.open_breakers()]
        figures["waiting_for_configuration"] = runtime.waiting_for_configuration()
    except Exception as exc:  # noqa: BLE001 - a probe answers 503 with the reason, never 500
        return _describe(exc), figures
    return "; ".join(runtime.fulfillment_stalls(due=due, depths=depths)), figures


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).strip()[:300]}"


def _check_database() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; report it
        return _describe(exc)
    return ""


def _check_broker() -> str:
    import redis

    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
    except Exception as exc:  # noqa: BLE001
        return _describe(exc)
    return ""


def _check_subscription_lag() -> str:
    """Name every registered subscriber more than READINESS_MAX_SUBSCRIPTION_LAG events behind.

    The count stops at the threshold + 1, so a probe stays cheap however far behind a subscriber
    is. A negative threshold switches the check off.
    """
    from scm.events import subscriptions
    from scm.events.models import Event, Subscription

    threshold = settings.READINESS_MAX_SUBSCRIPTION_LAG
    if threshold < 0:
        return ""
    names = sorted(subscriber.name for subscriber in subscriptions.registered())
    behind = []
    try:
        checkpoints = dict(Subscription.objects.filter(name__in=names).values_list("name", "checkpoint"))
        for name in names:
            pending = Event.objects.filter(position__gt=checkpoints.get(name, 0)).order_by("position")
            if pending[: threshold + 1].count() > threshold:
                behind.append(f"{name} is more than {threshold} events behind")
    except Exception as exc:  # noqa: BLE001 - a probe answers 503 with the reason, never 500
        return _describe(exc)
    return "; ".join(behind)
