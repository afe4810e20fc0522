"""Pieces for the few hot-path reads written as SQL instead of through the ORM query builder.

Why: on the inbound 856 path a Django query costs about 1 ms of Python to build and compile, several
times what PostgreSQL takes to answer it (docs/PERFORMANCE.md, 856 ingestion). Those reads use
`Model.objects.raw(...)` (complete instances, with the fields' database converters) or a cursor,
with these helpers keeping the SQL portable between PostgreSQL and SQLite (which has no row locks).
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import connection, models


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def in_list(values: Collection) -> str:
    """`(%s, %s, ...)` for an IN over `values` (at least one: callers skip the query when empty)."""
    return "(" + ", ".join(["%s"] * len(values)) + ")"


def for_update(*of: str) -> str:
    """` FOR UPDATE [OF alias, ...]` where the database has row locks, else nothing."""
    if not connection.features.has_select_for_update:
        return ""
    if of and connection.features.has_select_for_update_of:
        return " FOR UPDATE OF " + ", ".join(of)
    return " FOR UPDATE"
