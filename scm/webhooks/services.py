"""Every write of the webhooks app: endpoints, fan-out of events into deliveries, sending, redelivery.

Delivery is at-least-once and ordered per endpoint and stream:
1. The `webhooks` subscription (registered in apps.py) follows the event log and inserts one
   delivery per (active endpoint that wants the event, event). The unique (endpoint, position)
   constraint makes a repeated fan-out harmless.
2. `webhook_deliveries_send_due` claims due deliveries in a short transaction
   (`SELECT ... FOR UPDATE SKIP LOCKED`, then pushes their `next_attempt_at` forward by the lease),
   commits, sends the HTTP requests with no transaction open, and records each outcome with one
   conditional UPDATE. A delivery is due only when no earlier delivery of the same endpoint and
   stream is still open (PENDING or DEAD), so a receiver sees each stream's events in order.
3. A failed attempt waits an exponential backoff with jitter; after `WEBHOOK_MAX_ATTEMPTS` the
   delivery is DEAD, which also holds back the later events of its stream for that endpoint
   until ops redeliver it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from scm.api.serializers import EventSerializer
from scm.events import schemas
from scm.events.models import Event
from scm.events.store import RecordedEvent, head_position
from scm.observability import metrics
from scm.webhooks.adapters.http import SendOutcome, post_signed
from scm.webhooks.exceptions import DeliveryNotDead, UnknownEventTypes, WebhookDeliveryNotFound
from scm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from scm.webhooks.selectors import webhook_endpoint_get

log = structlog.get_logger(__name__)

_UNSET = object()
_CLAIM_CHUNK = 50


# --- Endpoints --------------------------------------------------------------------------------


def _checked_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(event_types))
    unknown = sorted(set(wanted) - set(schemas.known_event_types()))
    if unknown:
        raise UnknownEventTypes(
            f"Unknown event type(s): {', '.join(unknown)}.", event_types=[f"Unknown event type: {t}" for t in unknown]
        )
    return wanted


@transaction.atomic
def webhook_endpoint_create(
    *,
    url: str,
    secret: str,
    event_types: Iterable[str] = (),
    description: str = "",
    active: bool = True,
    actor=None,
) -> WebhookEndpoint:
    """Subscribe `url` to the events appended from now on (of `event_types`, or all when empty).

    Raises UnknownEventTypes when a type has no JSON Schema in the repository.
    """
    return WebhookEndpoint.objects.create(
        url=url,
        secret=secret,
        event_types=_checked_event_types(event_types),
        description=description,
        active=active,
        start_position=head_position(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint_id: int,
    url=_UNSET,
    secret=_UNSET,
    event_types=_UNSET,
    description=_UNSET,
    active=_UNSET,
) -> WebhookEndpoint:
    """Change an endpoint. Deliveries already queued keep going to it (at its new URL and secret).

    Raises WebhookEndpointNotFound, UnknownEventTypes.
    """
    endpoint = webhook_endpoint_get(endpoint_id=endpoint_id, for_update=True)
    changes = {"url": url, "secret": secret, "description": description, "active": active}
    if event_types is not _UNSET:
        changes["event_types"] = _checked_event_types(event_types)
    changed = [name for name, value in changes.items() if value is not _UNSET]
    for name in changed:
        setattr(endpoint, name, changes[name])
    if changed:
        endpoint.save(update_fields=[*changed, "updated_at"])
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint_id: int) -> None:
    """Remove an endpoint and its delivery history. Raises WebhookEndpointNotFound."""
    webhook_endpoint_get(endpoint_id=endpoint_id, for_update=True).delete()


# --- Fan-out ----------------------------------------------------------------------------------


def webhook_deliveries_fan_out(event: RecordedEvent) -> int:
    """Subscription handler: queue `event` for every active endpoint that wants it. Idempotent.

    Runs inside the subscription's transaction, so the deliveries commit with its checkpoint.
    """
    endpoints = WebhookEndpoint.objects.filter(active=True, start_position__lt=event.position).only(
        "pk", "event_types"
    )
    now = timezone.now()
    rows = [
        WebhookDelivery(
            endpoint_id=endpoint.pk,
            event_position=event.position,
            event_id=event.event_id,
            stream=event.stream,
            event_type=event.type,
            next_attempt_at=now,
            created_at=now,
        )
        for endpoint in endpoints
        if endpoint.wants(event.type)
    ]
    if rows:
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        _send_after_commit()
    return len(rows)


def _send_after_commit() -> None:
    if not getattr(settings, "EVENT_DISPATCH_ON_COMMIT", True):
        return
    from scm.webhooks.tasks import kick_delivery

    if any(callback is kick_delivery for _, callback, _ in connection.run_on_commit):
        return
    transaction.on_commit(kick_delivery)


# --- Sending ----------------------------------------------------------------------------------


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Wait after failed attempt `attempt` (1-based): uniform in [d/2, d], d = min(cap, base * 2**(attempt-1)).

    The random half spreads retries of many deliveries that failed together (a receiver outage)
    so they do not all return at the same instant; the fixed half keeps the growth exponential.
    """
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


@dataclass(frozen=True)
class _Claim:
    delivery_id: int
    attempt: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True)
class SendRunResult:
    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


def webhook_deliveries_send_due(
    *,
    now: datetime | None = None,
    limit: int | None = None,
    endpoint_id: int | None = None,
) -> SendRunResult:
    """Send due deliveries (of one endpoint, or all) until none is due or `limit` were sent.

    `now` fixes the clock for scheduling (tests drive time with it); by default the real time.
    Must not run inside a transaction: its HTTP requests would hold that transaction open.
    """
    if connection.in_atomic_block:
        raise RuntimeError("webhook_deliveries_send_due sends HTTP requests and must not run inside a transaction")
    budget = limit or settings.WEBHOOK_BATCH
    counts = {"sent": 0, "delivered": 0, "retrying": 0, "dead": 0}
    while counts["sent"] < budget:
        claims = _claim_due(
            now=now or timezone.now(), limit=min(_CLAIM_CHUNK, budget - counts["sent"]), endpoint_id=endpoint_id
        )
        if not claims:
            break
        for claim in claims:
            outcome = post_signed(
                url=claim.url,
                body=claim.body,
                secret=claim.secret,
                event_id=claim.event_id,
                event_type=claim.event_type,
                delivery_id=claim.delivery_id,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            )
            counts[_record_outcome(claim, outcome, now=now or timezone.now())] += 1
            counts["sent"] += 1
    return SendRunResult(**counts)


def _due_deliveries(*, now: datetime, endpoint_id: int | None):
    earlier_open = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        stream=OuterRef("stream"),
        event_position__lt=OuterRef("event_position"),
    ).exclude(status=DeliveryStatus.DELIVERED)
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__active=True
    ).filter(~Exists(earlier_open))
    if endpoint_id is not None:
        due = due.filter(endpoint_id=endpoint_id)
    return due


def _claim_due(*, now: datetime, limit: int, endpoint_id: int | None) -> list[_Claim]:
    """Reserve up to `limit` due deliveries for this worker and return what it needs to send them."""
    with transaction.atomic():
        rows = list(
            _due_deliveries(now=now, endpoint_id=endpoint_id)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .order_by("event_position", "pk")[:limit]
        )
        if not rows:
            return []
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            attempts=F("attempts") + 1,
            next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS),
            last_attempt_at=now,
        )
        events = {
            row.position: RecordedEvent.from_row(row)
            for row in Event.objects.filter(position__in=[d.event_position for d in rows])
        }
    renderer = JSONRenderer()
    return [
        _Claim(
            delivery_id=row.pk,
            attempt=row.attempts + 1,
            url=row.endpoint.url,
            secret=row.endpoint.secret,
            event_id=str(row.event_id),
            event_type=row.event_type,
            body=renderer.render(EventSerializer(events[row.event_position]).data),
        )
        for row in rows
    ]


def _record_outcome(claim: _Claim, outcome: SendOutcome, *, now: datetime) -> str:
    """Store the result of one attempt; returns "delivered", "retrying" or "dead".

    The UPDATE only applies while the delivery is still this worker's claim (PENDING at this
    attempt number): if the lease ran out and another worker took it over, that worker records.
    """
    mine = WebhookDelivery.objects.filter(pk=claim.delivery_id, status=DeliveryStatus.PENDING, attempts=claim.attempt)
    facts = {"last_status_code": outcome.status_code, "last_error": outcome.error}
    if outcome.ok:
        result, changes = "delivered", {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
    elif claim.attempt >= settings.WEBHOOK_MAX_ATTEMPTS:
        result, changes = "dead", {"status": DeliveryStatus.DEAD, "next_attempt_at": now}
    else:
        wait = backoff_seconds(
            claim.attempt, base=settings.WEBHOOK_BACKOFF_BASE_SECONDS, cap=settings.WEBHOOK_BACKOFF_CAP_SECONDS
        )
        result, changes = "retrying", {"next_attempt_at": now + timedelta(seconds=wait)}
    if not mine.update(**facts, **changes):
        log.warning("webhook.outcome_discarded", delivery_id=claim.delivery_id, attempt=claim.attempt)
    elif result == "dead":
        metrics.inc_on_commit(metrics.webhook_dead_letters)
    log.info(
        "webhook.attempt",
        delivery_id=claim.delivery_id,
        attempt=claim.attempt,
        result=result,
        status_code=outcome.status_code,
        error=outcome.error or None,
    )
    return result


# --- Redelivery -------------------------------------------------------------------------------


@transaction.atomic
def webhook_delivery_redeliver(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery:
    """Give a DEAD delivery a fresh set of attempts, due at once; it unblocks its stream once delivered.

    Raises WebhookDeliveryNotFound, DeliveryNotDead (PENDING ones are still being tried and
    DELIVERED ones arrived).
    """
    delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None:
        raise WebhookDeliveryNotFound(f"No webhook delivery {delivery_id}.", delivery_id=delivery_id)
    if delivery.status != DeliveryStatus.DEAD:
        raise DeliveryNotDead(
            f"Delivery {delivery_id} is {delivery.status}; only DEAD deliveries can be redelivered.",
            delivery_id=delivery_id,
            status=delivery.status,
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now or timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    log.info("webhook.redeliver", delivery_id=delivery_id, endpoint_id=delivery.endpoint_id)
    _send_after_commit()
    return delivery

