"""Database triggers that make a table append-only, for migrations of the log-like tables.

PostgreSQL: a row trigger rejects UPDATE and DELETE, a statement trigger rejects TRUNCATE.
SQLite: triggers reject UPDATE and DELETE (SQLite has no TRUNCATE statement).
"""

from __future__ import annotations

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION scm_reject_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a correcting row instead.';
END;
$$ LANGUAGE plpgsql;
"""


def _install(table: str):
    def install(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(PG_FUNCTION, params=None)
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION scm_reject_change()",
                params=None,
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION scm_reject_change()",
                params=None,
            )
        elif vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} is not allowed'); END"
                )

    return install


def _remove(table: str):
    def remove(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}", params=None)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table}", params=None)
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")

    return remove


def make_append_only(table: str) -> migrations.RunPython:
    """A migration operation installing (and on reverse removing) the append-only triggers."""
    return migrations.RunPython(_install(table), _remove(table))


def restore_on_sqlite(table: str) -> migrations.RunPython:
    """Install the SQLite triggers again (dropping any first): SQLite alters a column by rebuilding
    the table, which loses its triggers (inventory 0004 did that to the ledger's). PostgreSQL alters
    in place, so nothing is done there."""

    def restore(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            _remove(table)(apps, schema_editor)
            _install(table)(apps, schema_editor)

    return migrations.RunPython(restore, migrations.RunPython.noop)
