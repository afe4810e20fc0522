"""Make the events table append-only in the database itself, not only in Python."""

from django.db import migrations

from scm.events.append_only import make_append_only


class Migration(migrations.Migration):
    dependencies = [("events", "0001_create_event_log")]

    operations = [make_append_only("events_event")]
