"""Reprocess quarantined inbound messages after master data or a mapping was fixed.

Each message is processed in its own transaction, oldest first, so the command can be interrupted
(Ctrl-C) at any point and run again: messages already applied are no longer QUARANTINED and are
not touched a second time.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from suppliers.inbound import inbound_messages_reprocess
from suppliers.models import InboundMessage


class Command(BaseCommand):
    help = "Reprocess QUARANTINED inbound supplier messages (all, or filtered by id, supplier or error code)."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", type=int, help="Message ids (default: every quarantined message).")
        parser.add_argument("--supplier", help="Only messages of this supplier code.")
        parser.add_argument(
            "--error-code", help="Only messages quarantined with this error code, e.g. unknown_supplier_part."
        )
        parser.add_argument("--all", action="store_true", help="Required when no id is given, to avoid surprises.")

    def handle(self, *args, ids, supplier, error_code, all, **options):
        if not ids and not (all or supplier or error_code):
            raise CommandError("Give message ids, --supplier, --error-code, or --all.")

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
