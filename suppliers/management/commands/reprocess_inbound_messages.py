"""Reprocess quarantined inbound messages after master data, a mapping or a supplier profile was fixed.

`--supplier ACME --error-code x12_invalid_date` is a bulk run: recorded (`ReprocessRun`, one
`ReprocessAttempt` per message), with progress, the same as the dashboard's bulk reprocess.
Each message is processed in its own transaction, oldest first, so the command can be interrupted
(Ctrl-C) at any point and run again (`--resume RUN` carries on with the same selection): messages
already applied are no longer QUARANTINED and are not touched a second time.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from scm.errors import DomainError
from suppliers.inbound import inbound_messages_reprocess
from suppliers.models import InboundMessage, ReprocessAttempt, ReprocessRun
from suppliers.services import reprocessing


class Command(BaseCommand):
    help = "Reprocess QUARANTINED inbound supplier messages (by id, or one supplier's with one error code)."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Message ids (default: every quarantined message).")
        parser.add_argument("--supplier", help="Only messages of this supplier code.")
        parser.add_argument(
            "--error-code", help="Only messages quarantined with this error code, e.g. x12_invalid_date."
        )
        parser.add_argument("--resume", type=int, metavar="RUN", help="Carry on with a stopped bulk run.")
        parser.add_argument("--all", action="store_true", help="Required when no id is given, to avoid surprises.")

    def handle(self, *args, ids, supplier, error_code, resume, all, **options):
        if resume or (supplier and error_code and not ids):
            return self._bulk(supplier, error_code, resume)
        if not ids and not (all or supplier or error_code):
            raise CommandError("Give message ids, --supplier with --error-code, --resume, or --all.")

        def progress(done: int, total: int, message: InboundMessage) -> None:
            detail = ""
            if message.errors:
                detail = f": {message.errors[0]['message']}"
            self.stderr.write(f"[{done}/{total}] message {message.pk} → {message.status}{detail}")

        counts = inbound_messages_reprocess(
            message_ids=ids or None, supplier=supplier, error_code=error_code, progress=progress
        )
        self.stdout.write(
            f"applied {counts['APPLIED']}, still quarantined {counts['QUARANTINED']}, duplicate {counts['DUPLICATE']}, "
            f"skipped {counts['skipped']}"
        )

    def _bulk(self, supplier: str | None, error_code: str | None, resume: int | None) -> None:
        try:
            if resume:
                run = ReprocessRun.objects.filter(pk=resume).first()
                if run is None:
                    raise CommandError(f"No reprocess run {resume}.")
            else:
                run = reprocessing.reprocess_run_start(supplier=supplier, reason_code=error_code, actor="command")
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"run {run.pk}: {run.total} message(s) of {run.supplier.code} quarantined with {run.reason_code}"
        )

        def progress(current: ReprocessRun, attempt: ReprocessAttempt) -> None:
            detail = f": {attempt.errors[0]['message']}" if attempt.errors else ""
            self.stderr.write(
                f"[{current.done}/{current.total}] message {attempt.message_id} → {attempt.outcome}{detail}"
            )

        try:
            run = reprocessing.reprocess_run_execute(run_id=run.pk, progress=progress)
        except KeyboardInterrupt:
            self.stderr.write(f"stopped; carry on with --resume {run.pk}")
            raise SystemExit(130) from None
        counts = ", ".join(f"{key.lower()} {value}" for key, value in sorted(run.counts.items())) or "nothing to do"
        self.stdout.write(f"run {run.pk} {run.status}: {run.done}/{run.total} done; {counts}")
