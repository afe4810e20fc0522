"""A fulfillment workflow can wait for missing configuration (`waiting_for`, a named reason, since
`waiting_since`) instead of failing. Schema only: existing rows wait for nothing, which every step
allows, so the CHECK holds for them as they are."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0001_create_order_tables"),
    ]

    operations = [
        migrations.AddField(
            model_name="fulfillmentworkflow",
            name="waiting_for",
            field=models.CharField(
                blank=True, default="", help_text="The missing configuration this step waits for.", max_length=100
            ),
        ),
        migrations.AddField(
            model_name="fulfillmentworkflow",
            name="waiting_since",
            field=models.DateTimeField(blank=True, help_text="When it started waiting for it.", null=True),
        ),
        migrations.AddIndex(
            model_name="fulfillmentworkflow",
            index=models.Index(
                condition=models.Q(("waiting_for", ""), _negated=True),
                fields=["waiting_for", "next_attempt_at"],
                name="workflow_waiting_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="fulfillmentworkflow",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("waiting_for", ""), ("waiting_since__isnull", True)),
                    models.Q(
                        models.Q(("waiting_for", ""), _negated=True),
                        ("step__in", ["reserve", "plan_shipment"]),
                        ("waiting_since__isnull", False),
                    ),
                    _connector="OR",
                ),
                name="workflow_waits_only_in_runnable_step",
            ),
        ),
    ]
