"""Every write of the webhooks app: endpoints, fan-out of events into deliveries, sending, redelivery.

Delivery is at-least-once and ordered per endpoint and stream:
1. The `webhooks` subscription (registered in apps.py) follows the event log and inserts one
   delivery per (active endpoint that wants the event, event). The unique (endpoint, position)
   constraint makes a repeated fan-out harmless.
2. Sending is per endpoint: the dispatcher task starts one `webhook_endpoint_send_due` per
   endpoint with due deliveries, so a slow endpoint holds only its own task. It claims that
   endpoint's due deliveries in small slices (`WEBHOOK_CLAIM_SLICE`) in a short transaction (the
   endpoint row locked, then `SELECT ... FOR UPDATE SKIP LOCKED` on its deliveries, pushing their
   `next_attempt_at` forward by the lease and marking them `claimed_until`), never more than the
   endpoint's in-flight limit (`WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT`, counted across all workers)
   allows; commits; sends the HTTP requests with no transaction open, through the outbound policy
   (`scm.outbound`: a short connect timeout, a total deadline per attempt, the endpoint's circuit
   breaker `webhook:<id>`); and records each outcome with one conditional UPDATE. A run stops after
   its time budget (`WEBHOOK_RUN_BUDGET_SECONDS`). A delivery is due only when no earlier delivery
   of the same endpoint and stream is still open (PENDING or DEAD), so a receiver sees each
   stream's events in order.
3. A failed attempt waits an exponential backoff with jitter; after `WEBHOOK_MAX_ATTEMPTS` the
   delivery is DEAD, which also holds back the later events of its stream for that endpoint
   until ops redeliver it. An attempt refused by the address policy is a failed attempt whose
   error names the refusal.
4. After repeated failures the endpoint's breaker opens: its deliveries wait (no attempt is spent,
   no request is made) until the breaker lets one probe through, one delivery at a time; the
   probe's success closes the breaker and the backlog flows again. Claims a run could not send
   (breaker opened meanwhile, time budget spent) are handed back unspent.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from scm import outbound
from scm.api.serializers import EventSerializer
from scm.events import schemas
from scm.events.models import Event
from scm.events.store import RecordedEvent, head_position
from scm.observability import metrics, tracing
from scm.outbound.selectors import breaker_get
from scm.webhooks.adapters.http import SendOutcome, breaker_name, post_signed
from scm.webhooks.exceptions import DeliveryNotDead, UnknownEventTypes, WebhookDeliveryNotFound
from scm.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from scm.webhooks.selectors import due_deliveries, webhook_endpoint_get, webhook_endpoints_due

log = structlog.get_logger(__name__)

_UNSET = object()


# --- Endpoints --------------------------------------------------------------------------------


def _checked_event_types(event_types: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(event_types))
    unknown = sorted(set(wanted) - set(schemas.known_event_types()))
    if unknown:
        raise UnknownEventTypes(
            f"Unknown event type(s): {', '.join(unknown)}.", event_types=[f"Unknown event type: {t}" for t in unknown]
        )
    return wanted


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

    Raises UnknownEventTypes when a type has no JSON Schema in the repository, AddressRefused when
    the outbound policy refuses the URL (not http(s), or a loopback, private, link-local ... host).
    """
    outbound.check_url(url, what="webhook URL")  # before the transaction: it may resolve a name
    with transaction.atomic():
        return WebhookEndpoint.objects.create(
            url=url,
            secret=secret,
            event_types=_checked_event_types(event_types),
            description=description,
            active=active,
            start_position=head_position(),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )


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

    Raises WebhookEndpointNotFound, UnknownEventTypes, AddressRefused.
    """
    if url is not _UNSET:
        outbound.check_url(url, what="webhook URL")  # before the transaction: it may resolve a name
    with transaction.atomic():
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
    endpoint_id: int
    attempt: int
    url: str
    secret: str
    event_id: str
    event_type: str
    body: bytes
    traceparent: str = ""


@dataclass(frozen=True)
class SendRunResult:
    sent: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    def __add__(self, other: SendRunResult) -> SendRunResult:
        return SendRunResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def _not_in_transaction() -> None:
    if connection.in_atomic_block:
        raise RuntimeError("webhook_deliveries_send_due sends HTTP requests and must not run inside a transaction")


def webhook_deliveries_send_due(
    *,
    now: datetime | None = None,
    limit: int | None = None,
    endpoint_id: int | None = None,
) -> SendRunResult:
    """Send due deliveries of one endpoint, or of every endpoint one after the other (the eager
    default, tests, the demo); workers run `webhook_endpoint_send_due` per endpoint instead.

    `now` fixes the clock for scheduling (tests drive time with it); by default the real time.
    Must not run inside a transaction: its HTTP requests would hold that transaction open.
    """
    _not_in_transaction()
    ids = [endpoint_id] if endpoint_id is not None else webhook_endpoints_due(now=now or timezone.now())
    total = SendRunResult()
    for endpoint in ids:
        total += webhook_endpoint_send_due(endpoint_id=endpoint, now=now, limit=limit)
    return total


def webhook_endpoint_send_due(
    *,
    endpoint_id: int,
    now: datetime | None = None,
    limit: int | None = None,
    budget_seconds: float | None = None,
) -> SendRunResult:
    """Send one endpoint's due deliveries, claimed `WEBHOOK_CLAIM_SLICE` at a time within the
    endpoint's in-flight limit, until none is due, `limit` were sent, the run's time budget
    (`WEBHOOK_RUN_BUDGET_SECONDS`) is spent, or the endpoint's breaker refuses. Claims it could not
    send are handed back without spending an attempt. A slow endpoint only slows this run.
    """
    _not_in_transaction()
    limit = limit or settings.WEBHOOK_BATCH
    stop_at = time.monotonic() + (budget_seconds or settings.WEBHOOK_RUN_BUDGET_SECONDS)
    counts = {"sent": 0, "delivered": 0, "retrying": 0, "dead": 0}
    while counts["sent"] < limit and time.monotonic() < stop_at:
        claims = _claim_due(now=now or timezone.now(), limit=limit - counts["sent"], endpoint_id=endpoint_id)
        if not claims:
            break
        for index, claim in enumerate(claims):
            if time.monotonic() >= stop_at:
                _hand_back(claims[index:], at=now or timezone.now())
                return SendRunResult(**counts)
            outcome = _send(claim)
            if not outcome.sent:  # the breaker opened (or another worker holds its probe)
                _hand_back(claims[index:], at=now or timezone.now())
                return SendRunResult(**counts)
            counts[_record_outcome(claim, outcome, now=now or timezone.now())] += 1
            counts["sent"] += 1
    return SendRunResult(**counts)


def _send(claim: _Claim) -> SendOutcome:
    """One attempt, inside the trace of the event it delivers (a receiver can join it: `traceparent`)."""
    with tracing.continue_trace(claim.traceparent):
        return post_signed(
            url=claim.url,
            body=claim.body,
            secret=claim.secret,
            event_id=claim.event_id,
            event_type=claim.event_type,
            delivery_id=claim.delivery_id,
            endpoint_id=claim.endpoint_id,
            traceparent=claim.traceparent,
        )


def _claim_due(*, now: datetime, limit: int, endpoint_id: int) -> list[_Claim]:
    """Reserve up to `limit` due deliveries of one endpoint for this worker, never more than its
    in-flight limit leaves room for; none while its breaker is open, one when a probe is due.

    The endpoint row is locked first (then its deliveries), so concurrent claimers of one endpoint
    count its in-flight claims one after the other.
    """
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, active=True).first()
        if endpoint is None:
            return []
        in_flight = WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, status=DeliveryStatus.PENDING, claimed_until__gt=now
        ).count()
        room = min(limit, settings.WEBHOOK_CLAIM_SLICE, settings.WEBHOOK_MAX_IN_FLIGHT_PER_ENDPOINT - in_flight)
        breaker_allows = breaker_get(name=breaker_name(endpoint_id)).calls_allowed(now=timezone.now())
        if breaker_allows is not None:
            room = min(room, breaker_allows)
        if room <= 0:
            return []
        rows = list(
            due_deliveries(now=now, endpoint_id=endpoint_id)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("event_position", "pk")[:room]
        )
        if not rows:
            return []
        lease_until = now + timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)
        WebhookDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            attempts=F("attempts") + 1, next_attempt_at=lease_until, last_attempt_at=now, claimed_until=lease_until
        )
        events = {
            row.position: RecordedEvent.from_row(row)
            for row in Event.objects.filter(position__in=[d.event_position for d in rows])
        }
    renderer = JSONRenderer()
    return [
        _Claim(
            delivery_id=row.pk,
            endpoint_id=endpoint.pk,
            attempt=row.attempts + 1,
            url=endpoint.url,
            secret=endpoint.secret,
            event_id=str(row.event_id),
            event_type=row.event_type,
            body=renderer.render(EventSerializer(events[row.event_position]).data),
            traceparent=events[row.event_position].metadata.get("traceparent", ""),
        )
        for row in rows
    ]


def _hand_back(claims: list[_Claim], *, at: datetime) -> None:
    """Release claims that were never sent: due again at `at`, the attempt not spent."""
    for claim in claims:
        WebhookDelivery.objects.filter(
            pk=claim.delivery_id, status=DeliveryStatus.PENDING, attempts=claim.attempt
        ).update(attempts=F("attempts") - 1, next_attempt_at=at, claimed_until=None)


def _record_outcome(claim: _Claim, outcome: SendOutcome, *, now: datetime) -> str:
    """Store the result of one attempt; returns "delivered", "retrying" or "dead".

    The UPDATE only applies while the delivery is still this worker's claim (PENDING at this
    attempt number): if the lease ran out and another worker took it over, that worker records.
    """
    mine = WebhookDelivery.objects.filter(pk=claim.delivery_id, status=DeliveryStatus.PENDING, attempts=claim.attempt)
    facts = {"last_status_code": outcome.status_code, "last_error": outcome.error, "claimed_until": None}
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
        endpoint_id=claim.endpoint_id,
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

