import sys

from django.core.management.base import BaseCommand

from inventory.models import Balance, Item, Location
from inventory.projection import totals_from_events
from inventory.selectors import check_balances


class Command(BaseCommand):
    help = (
        "Prove the balance projection equals the ledger, and that reserved equals the open reservations and "
        "inbound the open inbound supply; with --events, also that it equals the replayed event log. "
        "Exits 1 and lists every difference when they disagree."
    )

    def add_arguments(self, parser):
        parser.add_argument("--events", action="store_true", help="also replay the event log and compare")

    def handle(self, *args, events: bool = False, **options):
        found = [
            f"{d.sku}@{d.location} {d.field}: projection {d.projection}, {d.source} says {d.expected}"
            for d in check_balances(progress=lambda done, total: self.stderr.write(f"  {done:,}/{total:,} balances"))
        ]
        if events:
            found += self._against_events()
        for line in found:
            self.stdout.write(line)
        if found:
            self.stdout.write(f"{len(found)} difference(s)")
            sys.exit(1)
        checked = "the ledger, reservations, inbound supply" + (" and the event log" if events else "")
        self.stdout.write(f"balances are consistent with {checked}")

    def _against_events(self) -> list[str]:
        totals, rows = totals_from_events(progress=lambda n: self.stderr.write(f"  {n:,} event movements"))
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
        return differences
