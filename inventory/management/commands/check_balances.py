import sys

from django.core.management.base import BaseCommand

from inventory.selectors import check_balances


class Command(BaseCommand):
    help = (
        "Prove the balance projection equals the ledger, and that reserved equals the open reservations and "
        "inbound the open inbound supply. Exits 1 and lists every difference when they disagree."
    )

    def handle(self, *args, **options):
        found = check_balances(progress=lambda done, total: self.stderr.write(f"  {done:,}/{total:,} balances"))
        for d in found:
            self.stdout.write(
                f"{d.sku}@{d.location} {d.field}: projection {d.projection}, {d.source} says {d.expected}"
            )
        if found:
            self.stdout.write(f"{len(found)} difference(s)")
            sys.exit(1)
        self.stdout.write("balances are consistent with the ledger, reservations and inbound supply")
