"""The stock ledger is append-only in the database itself: corrections are new rows."""

from django.db import migrations

from scm.events.append_only import make_append_only


class Migration(migrations.Migration):
    dependencies = [("inventory", "0001_create_stock_tables")]

    operations = [make_append_only("inventory_ledgerentry")]
