"""Reprocessing quarantined messages after ops fixed a profile or master data: one message, or all of
one supplier's messages quarantined with one reason code (a bulk run), each attempt recorded.

A bulk run (`reprocess_run_start`, then `reprocess_run_execute`, usually through the Celery task
`reprocess_run`) takes its selection when it starts, then processes one message per transaction:
lock the run row, lock the message row, process it if still QUARANTINED (else SKIPPED), write the
`ReprocessAttempt` row and move the run's progress, commit. So

- progress (`done`/`total`, counts per outcome) is visible while it runs;
- it can be stopped (`reprocess_run_stop`, Ctrl-C in the command) between two messages, and resumed:
  messages with an attempt in the run are not tried again (a FAILED one is);
- a message never applies twice: two runs (or a run and a single reprocess) that reach the same
  message queue on its row lock, and the second finds it no longer QUARANTINED.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from scm import dispatch
from scm.errors import ValidationFailed
from scm.events.context import event_context
from suppliers.exceptions import MessageNotFound, MessageNotReprocessable, SupplierNotFound
from suppliers.models import IN, InboundMessage, Supplier
from suppliers.profiles.models import ReprocessAttempt, ReprocessOutcome, ReprocessRun, ReprocessRunStatus

log = logging.getLogger(__name__)

#: How often one attempt is retried after a deadlock or serialization failure.
TRANSIENT_RETRIES = 3
#: The most messages one run takes (the oldest first); a rerun takes the rest.
MAX_RUN_MESSAGES = 10_000

Progress = Callable[[ReprocessRun, ReprocessAttempt], None]


def quarantined_with_reason(*, supplier_id: int, reason_code: str) -> list[int]:
    """Ids of the supplier's QUARANTINED messages with a problem of this code, oldest first."""
    rows = (
        InboundMessage.objects.filter(status=IN.QUARANTINED, supplier_id=supplier_id)
        .order_by("received_at", "pk")
        .values_list("pk", "errors")
    )
    return [pk for pk, errors in rows if any(e.get("code") == reason_code for e in errors or [])]


@transaction.atomic
def reprocess_run_start(*, supplier: str, reason_code: str, actor: str = "") -> ReprocessRun:
    """Record a bulk run over the supplier's messages now quarantined with `reason_code`."""
    found = Supplier.objects.filter(code=supplier).first()
    if found is None:
        raise SupplierNotFound(supplier)
    reason_code = (reason_code or "").strip()
    if not reason_code or len(reason_code) > 64:
        raise ValidationFailed("Give the reason code to reprocess, e.g. x12_invalid_date.", field="reason_code")
    ids = quarantined_with_reason(supplier_id=found.pk, reason_code=reason_code)[:MAX_RUN_MESSAGES]
    return ReprocessRun.objects.create(
        supplier=found, reason_code=reason_code, requested_by=actor[:150], message_ids=ids, total=len(ids)
    )


def reprocess_run_enqueue(*, run_id: int) -> None:
    """Queue the run's execution (inline when Celery runs eagerly). Called after `reprocess_run_start`
    committed; with the broker down the run stays RUNNING at 0 and ops resume it (dashboard, command)."""
    from suppliers.tasks import reprocess_run

    dispatch.enqueue(reprocess_run, run_id, picked_up_by="ops resuming the run")


def reprocess_run_stop(*, run_id: int) -> None:
    """Ask a running run to stop after the message it is on (it can be resumed later)."""
    ReprocessRun.objects.filter(pk=run_id, status=ReprocessRunStatus.RUNNING).update(stop_requested=True)


def reprocess_run_execute(*, run_id: int, progress: Progress | None = None) -> ReprocessRun:
    """Work through the run's selection, one transaction per message (see the module docstring).
    Safe to call again on the same run, also while another worker executes it."""
    run = ReprocessRun.objects.get(pk=run_id)
    if run.status != ReprocessRunStatus.RUNNING:
        ReprocessRun.objects.filter(pk=run_id).update(status=ReprocessRunStatus.RUNNING, stop_requested=False)
    finished = set(
        ReprocessAttempt.objects.filter(run_id=run_id)
        .exclude(outcome=ReprocessOutcome.FAILED)
        .values_list("message_id", flat=True)
    )
    try:
        for message_id in run.message_ids:
            if message_id in finished:
                continue
            if ReprocessRun.objects.filter(pk=run_id, stop_requested=True).exists():
                return _close(run_id, ReprocessRunStatus.STOPPED)
            attempt = _attempt_logged(message_id, run_id=run_id, actor=run.requested_by)
            if attempt is not None and progress is not None:
                progress(ReprocessRun.objects.get(pk=run_id), attempt)
    except BaseException:
        _close(run_id, ReprocessRunStatus.STOPPED)
        raise
    return _close(run_id, ReprocessRunStatus.FINISHED)


def _close(run_id: int, status: str) -> ReprocessRun:
    ReprocessRun.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now())
    return ReprocessRun.objects.get(pk=run_id)


def message_reprocess(*, message_id: int, actor: str = "") -> InboundMessage:
    """Reprocess one QUARANTINED message now (409 `not_reprocessable` otherwise), recording the attempt."""
    current = InboundMessage.objects.filter(pk=message_id).values_list("status", flat=True).first()
    if current is None:
        raise MessageNotFound(message_id)
    if current != IN.QUARANTINED:
        raise MessageNotReprocessable(message_id=message_id, status=current)
    _attempt_logged(message_id, run_id=None, actor=actor)
    return InboundMessage.objects.get(pk=message_id)


def _attempt_logged(message_id: int, *, run_id: int | None, actor: str) -> ReprocessAttempt | None:
    """One attempt, retried after deadlocks; a database error that persists is recorded as FAILED."""
    for attempt in range(1, TRANSIENT_RETRIES + 1):
        try:
            return _attempt(message_id, run_id=run_id, actor=actor)
        except OperationalError as exc:
            transient = getattr(exc.__cause__, "pgcode", None) in ("40P01", "40001")
            if transient and attempt < TRANSIENT_RETRIES:
                continue
            return _failed(message_id, run_id=run_id, actor=actor, error=exc)
        except DatabaseError as exc:
            return _failed(message_id, run_id=run_id, actor=actor, error=exc)
        except (MessageNotFound, MessageNotReprocessable):
            raise
        except Exception as exc:  # a bug: the message ends visible in quarantine (internal_error), the run goes on
            from suppliers.inbound import inbound_message_crashed

            log.exception("reprocessing inbound message %s failed unexpectedly", message_id)
            inbound_message_crashed(message_id=message_id, error=exc)
            return _failed(message_id, run_id=run_id, actor=actor, error=exc)
    return None  # pragma: no cover - the loop always returns


@transaction.atomic
def _attempt(message_id: int, *, run_id: int | None, actor: str) -> ReprocessAttempt | None:
    """Locks: the run row (one executor per run at a time), then the message row; then the message is
    processed as the pipeline always does (supplier, orders, balances, events last)."""
    from suppliers.inbound import inbound_message_process

    run = ReprocessRun.objects.select_for_update().get(pk=run_id) if run_id else None
    if run is not None and run.attempts.filter(message_id=message_id).exclude(outcome=ReprocessOutcome.FAILED).exists():
        return None  # another executor of this run did it meanwhile
    status = InboundMessage.objects.select_for_update().filter(pk=message_id).values_list("status", flat=True).first()
    if status is None:
        raise MessageNotFound(message_id)
    if status != IN.QUARANTINED:
        message = InboundMessage.objects.get(pk=message_id)
        outcome = ReprocessOutcome.SKIPPED
    else:
        with event_context(actor=actor or None):
            message = inbound_message_process(message_id=message_id, reprocess=True)
        outcome = str(message.status)
    attempt = ReprocessAttempt.objects.create(
        run=run,
        message_id=message_id,
        outcome=outcome,
        profile_versions=message.profile_versions if outcome != ReprocessOutcome.SKIPPED else {},
        errors=message.errors if outcome == ReprocessOutcome.QUARANTINED else [],
        actor=actor[:150],
    )
    if run is not None:
        run.done = min(run.done + 1, run.total)
        run.counts = {**run.counts, outcome: run.counts.get(outcome, 0) + 1}
        run.save(update_fields=["done", "counts"])
    return attempt


@transaction.atomic
def _failed(message_id: int, *, run_id: int | None, actor: str, error: BaseException) -> ReprocessAttempt:
    log.warning("reprocessing inbound message %s failed: %s", message_id, error)
    if run_id is not None:
        run = ReprocessRun.objects.select_for_update().get(pk=run_id)
        run.counts = {**run.counts, ReprocessOutcome.FAILED: run.counts.get(ReprocessOutcome.FAILED, 0) + 1}
        run.save(update_fields=["counts"])
    return ReprocessAttempt.objects.create(
        run_id=run_id,
        message_id=message_id,
        outcome=ReprocessOutcome.FAILED,
        errors=[{"code": "database_error", "message": f"{type(error).__name__}: {error}"[:500]}],
        actor=actor[:150],
    )
