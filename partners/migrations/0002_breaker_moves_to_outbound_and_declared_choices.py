"""The interim breaker columns go: a partner's circuit is scm.outbound's `transport:<supplier code>` row
(outbound_breaker) now. Their state (a few failures, an open-until time) is transient and is not
carried over: at worst a partner that was failing gets its threshold of tries again. The reverse
adds the columns back, empty. Also declares the values outbox kinds and AS2 MDN requests take."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('partners', '0001_create_connections_outbox_as2'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='partnerconnection',
            name='breaker_open_until',
        ),
        migrations.RemoveField(
            model_name='partnerconnection',
            name='consecutive_failures',
        ),
        migrations.AlterField(
            model_name='as2message',
            name='mdn_mode',
            field=models.CharField(blank=True, choices=[('none', 'None'), ('sync', 'Synchronous'), ('async', 'Asynchronous')], max_length=8),
        ),
        migrations.AlterField(
            model_name='outboxentry',
            name='kind',
            field=models.CharField(choices=[('850', '850 purchase order'), ('997', '997 functional acknowledgement'), ('824', '824 application advice'), ('TA1', 'TA1 interchange acknowledgement'), ('CONTRL', 'EDIFACT CONTRL syntax and service report')], max_length=8),
        ),
    ]
