from django.core.management.base import BaseCommand

from inventory.projection import rebuild_balances


class Command(BaseCommand):
    help = "Recompute the balance projection from the stock ledger (or from the event log with --source events)."

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=["ledger", "events"], default="ledger")

    def handle(self, *args, source: str, **options):
        result = rebuild_balances(source=source, progress=lambda n: self.stderr.write(f"  {n:,} rows read"))
        self.stdout.write(
            f"read {result.rows_read:,} {source} rows; {result.balances_written:,} balances, "
            f"{result.balances_changed:,} changed"
        )
