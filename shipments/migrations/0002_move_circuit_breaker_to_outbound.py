"""The TMS circuit's state moves to `outbound_breaker` (scm.outbound), where every partner's breaker lives.

Rows are not copied: a breaker's state is minutes old at most, and the TMS circuit simply starts
closed again (at worst a few calls reach a TMS that is still down, and it opens again).
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('shipments', '0001_create_shipment_tables'),
        ('outbound', '0001_create_breaker'),
    ]

    operations = [
        migrations.DeleteModel(
            name='CircuitBreaker',
        ),
    ]
