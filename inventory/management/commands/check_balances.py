import sys
import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError
from django.utils import timezone

from inventory.models import Balance, Item, Location
from inventory.projection import audit_snapshot, interrupted, make_interruptible, totals_from_events
from inventory.selectors import check_balances


class Command(BaseCommand):
    help = (
        "Prove the balance projection equals the ledger, and that reserved equals the open reservations and "
        "inbound the open inbound supply; with --events, also that it equals the replayed event log. "
        "Reads one snapshot of the database (safe while the system runs; nothing is written, so it can be "
        "interrupted and run again). Progress goes to stderr, the verdict to stdout; exits 1 and lists every "
        "difference when they disagree."
    )

    def run_from_argv(self, argv):
        make_interruptible()  # from the command line only: call_command() shares the caller's process
        super().run_from_argv(argv)

    def add_arguments(self, parser):
        parser.add_argument("--events", action="store_true", help="also replay the event log and compare")

    def handle(self, *args, events: bool = False, **options):
        started = time.monotonic()
        try:
            with audit_snapshot():
                self.stderr.write(f"checking balances as of {timezone.now().isoformat(timespec='seconds')}")
                found = [
                    f"{d.sku}@{d.location} {d.field}: projection {d.projection}, {d.source} says {d.expected}"
                    for d in check_balances(progress=self._compared)
                ]
                if events:
                    found += self._against_events()
        except (KeyboardInterrupt, DatabaseError) as exc:
            if not interrupted(exc):
                raise
            self.stderr.write("interrupted: nothing was written; run it again")
            sys.exit(130)
        self.stderr.write(f"  done in {time.monotonic() - started:.1f} s")
        for line in found:
            self.stdout.write(line)
        if found:
            self.stdout.write(f"{len(found)} difference(s)")
            sys.exit(1)
        checked = "the ledger, reservations, inbound supply" + (" and the event log" if events else "")
        self.stdout.write(f"balances are consistent with {checked}")

    def _compared(self, done: int, total: int) -> None:
        self.stderr.write(f"  {done:,}/{total:,} balances compared with the ledger, reservations and inbound supply")

    def _against_events(self) -> list[str]:
        self.stderr.write("replaying the event log's stock movements")
        totals, rows = totals_from_events(progress=lambda n: self.stderr.write(f"  {n:,} event movements replayed"))
        skus = dict(Item.objects.values_list("id", "sku"))
        codes = dict(Location.objects.values_list("id", "code"))
        projection = {(b.item_id, b.location_id): b for b in Balance.objects.all()}
        differences = []
        for key in sorted(set(projection) | set(totals)):
            balance = projection.get(key)
            for bucket in ("on_hand", "reserved", "inbound"):
                have = getattr(balance, bucket) if balance else 0
                want = totals[key][bucket] if key in totals else 0
                if have != want:
                    differences.append(
                        f"{skus[key[0]]}@{codes[key[1]]} {bucket}: projection {have}, event log says {want}"
                    )
        self.stderr.write(f"  {len(projection):,} balances compared with {rows:,} event movements")
        return differences
