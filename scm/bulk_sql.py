"""Set-based writes the ORM has no cheap form for, portable between PostgreSQL and SQLite (3.35+).

`add_by_id_statement` adds a different amount to one integer column of many rows in one statement:

    WITH v(id, delta) AS (VALUES (%s, %s), ...) UPDATE t SET col = t.col + v.delta FROM v WHERE t.id = v.id

Django's `bulk_update` does the same with a CASE expression per row, which costs far more Python
to build than the statement costs PostgreSQL to run (see docs/PERFORMANCE.md, 856 ingestion).
The caller holds the rows' locks (or accepts that concurrent writers add up, which `+` tolerates).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from django.db import connection, models

from scm.raw_sql import Statement


def add_by_id_statement(
    model: type[models.Model], column: str, deltas: Mapping[int, int], *, updated_at: datetime | None = None
) -> Statement:
    """`column += delta` for each primary key in `deltas` (and `updated_at` set, when given), as one
    statement (at least one delta) to send with the caller's other writes (`raw_sql.execute_together`)."""
    table = connection.ops.quote_name(model._meta.db_table)
    target = connection.ops.quote_name(model._meta.get_field(column).column)
    values = ", ".join(["(%s, %s)"] * len(deltas))
    touch = f", {connection.ops.quote_name('updated_at')} = %s" if updated_at is not None else ""
    params: list = [value for pair in deltas.items() for value in pair]
    if updated_at is not None:
        params.append(updated_at)
    return (
        f"WITH v(id, delta) AS (VALUES {values}) "
        f"UPDATE {table} SET {target} = {table}.{target} + v.delta{touch} FROM v WHERE {table}.id = v.id",
        params,
    )
