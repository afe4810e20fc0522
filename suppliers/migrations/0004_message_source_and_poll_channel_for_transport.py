"""Declare the values partner transport stores: messages received over AS2 and pulled over SFTP, and
SFTP pulls among the poll channels (choices only: no change in the database)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('suppliers', '0003_supplier_edifact_id_and_interchange_acks'),
    ]

    operations = [
        migrations.AlterField(
            model_name='inboundmessage',
            name='source',
            field=models.CharField(choices=[('api', 'API'), ('http_poll', 'HTTP feed poll'), ('folder', 'Drop folder'), ('admin', 'Admin upload'), ('as2', 'AS2 (partner transport)'), ('sftp', 'SFTP pull (partner transport)')], max_length=16),
        ),
        migrations.AlterField(
            model_name='pollattempt',
            name='channel',
            field=models.CharField(choices=[('http', 'HTTP feed'), ('folder', 'Drop folder'), ('sftp', 'SFTP pull (partner transport)')], max_length=8),
        ),
    ]
