"""Make the events table append-only in the database itself, not only in Python.

PostgreSQL: a row trigger rejects UPDATE and DELETE, a statement trigger rejects TRUNCATE.
SQLite: triggers reject UPDATE and DELETE (SQLite has no TRUNCATE statement).
"""

from django.db import migrations

PG_INSTALL = """
CREATE OR REPLACE FUNCTION events_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % on events_event is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correcting event instead.';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events_event
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events_event
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();
"""

PG_REMOVE = """
DROP TRIGGER IF EXISTS events_no_truncate ON events_event;
DROP TRIGGER IF EXISTS events_no_update_delete ON events_event;
DROP FUNCTION IF EXISTS events_reject_change();
"""

SQLITE_INSTALL = [
    """CREATE TRIGGER events_no_update BEFORE UPDATE ON events_event
       BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE on events_event is not allowed'); END""",
    """CREATE TRIGGER events_no_delete BEFORE DELETE ON events_event
       BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE on events_event is not allowed'); END""",
]

SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS events_no_update",
    "DROP TRIGGER IF EXISTS events_no_delete",
]


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_INSTALL, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_INSTALL:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_REMOVE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REMOVE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("events", "0001_create_event_log")]

    operations = [migrations.RunPython(install, remove)]
