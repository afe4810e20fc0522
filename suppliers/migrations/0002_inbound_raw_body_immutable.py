"""The raw bytes of an inbound message never change and the row is never deleted (database-enforced).

PostgreSQL: a row trigger rejects an UPDATE that changes body, sha256 or size, and any DELETE;
SQLite gets the same rules. Status, errors and the other processing columns stay writable.
"""

from django.db import migrations

TABLE = "suppliers_inboundmessage"

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION suppliers_reject_raw_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'inbound message % keeps its raw bytes: % of body/sha256/size or of the row is not allowed',
        OLD.id, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Store a new message instead.';
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_raw_immutable BEFORE UPDATE ON {TABLE} FOR EACH ROW "
            "WHEN (OLD.body IS DISTINCT FROM NEW.body OR OLD.sha256 IS DISTINCT FROM NEW.sha256 "
            "OR OLD.size IS DISTINCT FROM NEW.size) EXECUTE FUNCTION suppliers_reject_raw_change()",
            params=None,
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} FOR EACH ROW "
            "EXECUTE FUNCTION suppliers_reject_raw_change()",
            params=None,
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_raw_immutable BEFORE UPDATE ON {TABLE} "
            "WHEN OLD.body IS NOT NEW.body OR OLD.sha256 IS NOT NEW.sha256 OR OLD.size IS NOT NEW.size "
            "BEGIN SELECT RAISE(ABORT, 'inbound messages keep their raw bytes'); END"
        )
        schema_editor.execute(
            f"CREATE TRIGGER {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
            "BEGIN SELECT RAISE(ABORT, 'inbound messages are never deleted'); END"
        )


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete ON {TABLE}", params=None)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_raw_immutable ON {TABLE}", params=None)
        schema_editor.execute("DROP FUNCTION IF EXISTS suppliers_reject_raw_change()", params=None)
    elif vendor == "sqlite":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_raw_immutable")


class Migration(migrations.Migration):
    dependencies = [("suppliers", "0001_create_suppliers_orders_messages")]

    operations = [migrations.RunPython(install, remove)]
