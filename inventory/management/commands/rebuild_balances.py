import sys
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from inventory.projection import interrupted, make_interruptible, rebuild_balances


class Command(BaseCommand):
    help = (
        "Recompute the balance projection from the stock ledger (or from the event log with --source events). "
        "One transaction that holds off stock writes while it runs: interrupted, it changes nothing and can be "
        "run again. Progress goes to stderr."
    )

    def run_from_argv(self, argv):
        make_interruptible()  # from the command line only: call_command() shares the caller's process
        super().run_from_argv(argv)

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=["ledger", "events"], default="ledger")

    def handle(self, *args, source: str, **options):
        started = time.monotonic()
        self.stderr.write(f"rebuilding balances from the {source} (stock writes wait until it commits)")
        try:
            result = rebuild_balances(source=source, progress=lambda n: self.stderr.write(f"  {n:,} rows read"))
        except (KeyboardInterrupt, DatabaseError) as exc:
            if not interrupted(exc):
                raise
            self.stderr.write("interrupted: rolled back, no balance changed; run it again")
            sys.exit(130)
        self.stderr.write(f"  done in {time.monotonic() - started:.1f} s")
        self.stdout.write(
            f"read {result.rows_read:,} {source} rows; {result.balances_written:,} balances, "
            f"{result.balances_changed:,} changed"
        )
