"""Drop PostgreSQL's LIKE index (`varchar_pattern_ops`) of the event type: types are matched exactly,
and every appended event paid for it (docs/PERFORMANCE.md, 856 ingestion). SQLite has no such index."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0005_append_many_function"),
    ]

    operations = [
        migrations.RunSQL("DROP INDEX IF EXISTS events_event_type_369b1d2e_like", migrations.RunSQL.noop),
    ]
