"""Drop the inbound supply's item index (the (item, expected_date) index serves lookups by item; every
ship notice line paid for it), and give the ledger back its SQLite append-only triggers, which migration
0004's field change lost when SQLite rebuilt the table. The index is dropped by name and the model state
follows separately, so no table is rebuilt here."""

import django.db.models.deletion
from django.db import migrations, models

from scm.events.append_only import restore_on_sqlite


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0005_drop_reserve_function"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    "DROP INDEX IF EXISTS inventory_inboundsupply_item_id_f2a65218",
                    "CREATE INDEX IF NOT EXISTS inventory_inboundsupply_item_id_f2a65218 "
                    "ON inventory_inboundsupply (item_id)",
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="inboundsupply",
                    name="item",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="inbound_supplies",
                        to="inventory.item",
                    ),
                ),
            ],
        ),
        restore_on_sqlite("inventory_ledgerentry"),
    ]
