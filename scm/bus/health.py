"""The relay's readiness check, used by /readyz (scm/health.py) when NATS_URL is set."""

from __future__ import annotations

from django.conf import settings


def check_event_relay() -> str:
    """ "" when the relay is within READINESS_MAX_RELAY_LAG positions of the log head, else why not.

    The message names the lag and, when the relay's latest news is a failed round, its error, so a
    probe tells "NATS is down" from "the relay is not running". A negative threshold switches it off.
    """
    from scm.bus.selectors import relay_status

    threshold = settings.READINESS_MAX_RELAY_LAG
    if threshold < 0:
        return ""
    try:
        status = relay_status()
    except Exception as exc:  # noqa: BLE001 - a probe answers 503 with the reason, never 500
        return f"{type(exc).__name__}: {str(exc).strip()[:300]}"
    if status.lag <= threshold:
        return ""
    problem = f"event relay {status.name} is {status.lag} positions behind (more than {threshold})"
    if status.failing:
        problem += f"; last error: {status.last_error[:300]}"
    return problem
