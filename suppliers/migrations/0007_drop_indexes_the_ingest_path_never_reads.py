"""Drop indexes the inbound path pays for on every message and no query needs (docs/PERFORMANCE.md,
856 ingestion): an index per foreign key that a composite UNIQUE constraint or index already starts
with, the single-column status index (the (status, received_at) index serves it), and PostgreSQL's
LIKE indexes (`varchar_pattern_ops`) of columns never searched by prefix.

The indexes are dropped by name with `DROP INDEX IF EXISTS` (the LIKE indexes exist on PostgreSQL only)
and the model state follows separately: altering the fields would make SQLite rebuild the tables, which
loses their triggers (the inbound message's immutable raw bytes).
"""

import django.db.models.deletion
import django_fsm
from django.db import migrations, models

#: table: [(index, its column; None for a LIKE index, not recreated on the way back)]
DROPPED = {
    "suppliers_inboundmessage": [
        ("suppliers_inboundmessage_sha256_2d078a80_like", None),
        ("suppliers_inboundmessage_status_8cfb3675", "status"),
        ("suppliers_inboundmessage_status_8cfb3675_like", None),
    ],
    "suppliers_messageclaim": [("suppliers_messageclaim_key_bf07babc_like", None)],
    "suppliers_outboundmessage": [("suppliers_outboundmessage_supplier_id_ce93f1f1", "supplier_id")],
    "suppliers_purchaseorderline": [("suppliers_purchaseorderline_purchase_order_id_993183e0", "purchase_order_id")],
    "suppliers_shipnotice": [("suppliers_shipnotice_supplier_id_7742baac", "supplier_id")],
    "suppliers_shipnoticeline": [("suppliers_shipnoticeline_notice_id_1d0537d2", "notice_id")],
}


def drops() -> list[migrations.RunSQL]:
    return [
        migrations.RunSQL(
            f"DROP INDEX IF EXISTS {name}",
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})" if column else migrations.RunSQL.noop,
        )
        for table, indexes in DROPPED.items()
        for name, column in indexes
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("suppliers", "0006_supplier_profiles_and_reprocess_runs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=drops(),
            state_operations=[
                migrations.AlterField(
                    model_name="inboundmessage",
                    name="status",
                    field=django_fsm.FSMField(
                        choices=[
                            ("RECEIVED", "Received"),
                            ("APPLIED", "Applied"),
                            ("QUARANTINED", "Quarantined"),
                            ("DUPLICATE", "Duplicate"),
                        ],
                        default="RECEIVED",
                        max_length=50,
                        protected=True,
                    ),
                ),
                migrations.AlterField(
                    model_name="outboundmessage",
                    name="supplier",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="outbound",
                        to="suppliers.supplier",
                    ),
                ),
                migrations.AlterField(
                    model_name="purchaseorderline",
                    name="purchase_order",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="suppliers.purchaseorder",
                    ),
                ),
                migrations.AlterField(
                    model_name="shipnotice",
                    name="supplier",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="ship_notices",
                        to="suppliers.supplier",
                    ),
                ),
                migrations.AlterField(
                    model_name="shipnoticeline",
                    name="notice",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="lines",
                        to="suppliers.shipnotice",
                    ),
                ),
            ],
        ),
    ]
