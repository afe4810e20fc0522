"""Re-seal every stored partner secret with the newest key in PARTNER_SECRETS_KEY (rotation step 2)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from partners import secrets
from partners.models import SECRET_FIELDS, PartnerConnection


class Command(BaseCommand):
    help = "Re-encrypt every partner secret with the first key of PARTNER_SECRETS_KEY; safe to rerun."

    def handle(self, *args, **options):
        ids = list(PartnerConnection.objects.order_by("pk").values_list("pk", flat=True))
        for done, pk in enumerate(ids, start=1):
            with transaction.atomic():
                connection = PartnerConnection.objects.select_for_update().get(pk=pk)
                for name in SECRET_FIELDS:
                    setattr(connection, name, secrets.reseal(getattr(connection, name)))
                connection.save(update_fields=list(SECRET_FIELDS))
            self.stdout.write(f"{done}/{len(ids)} connection {pk} ({connection.supplier_id}) re-sealed")
        self.stdout.write(self.style.SUCCESS(f"{len(ids)} connection(s) re-sealed with the newest key."))
