"""Pieces for the few hot-path reads written as SQL instead of through the ORM query builder.

Why: on the inbound 856 path a Django query costs about 1 ms of Python to build and compile, several
times what PostgreSQL takes to answer it (docs/PERFORMANCE.md, 856 ingestion). Those reads use
`fetch` / `columns` + `instance` (complete instances, through the fields' database converters) or a
plain cursor, and `insert` writes rows without building objects; the helpers keep the SQL portable
between PostgreSQL and SQLite (which has no row locks).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache

from django.db import connection, models

#: A statement and its parameters (`%s` placeholders), as a cursor's `execute` takes them.
Statement = tuple[str, Sequence]

#: What separates the statements `execute_together` sends in one round trip (the lock-order test
#: splits on it to look at each statement).
TOGETHER = ";\n/* together */ "


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


def columns(model: type[models.Model]) -> str:
    """Every concrete column of `model`, table-qualified, in field order (what `instance` reads back)."""
    return _columns(model, connection.alias)


@cache
def _columns(model: type[models.Model], alias: str) -> str:
    name = table(model)
    return ", ".join(f"{name}.{connection.ops.quote_name(f.column)}" for f in model._meta.concrete_fields)


def instance(model: type[models.Model], values: Sequence) -> models.Model:
    """A model instance from the values of `columns(model)`, through the fields' database converters
    (JSON, dates and decimals on SQLite, ...), as the ORM would have built it."""
    values = list(values)
    for index, converters, column in _converters(model, connection.alias):
        for convert in converters:
            values[index] = convert(values[index], column, connection)
    return model.from_db(connection.alias, None, values)


def fetch(model: type[models.Model], where: str, params: Sequence) -> list[models.Model]:
    """`SELECT <every column of model> FROM <its table> <where>` as complete instances: what
    `Model.objects.raw` gives, without its per-query column mapping."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns(model)} FROM {table(model)} {where}", params)
        return [instance(model, values) for values in cursor.fetchall()]


@cache
def _converters(model: type[models.Model], alias: str) -> list:
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converters:
            found.append((index, converters, column))
    return found


def insert(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence]) -> None:
    """One multi-row INSERT of `rows` (values of `fields`, by attribute name) with no primary keys read
    back: what `bulk_create` writes, without its per-object Python. Values go through the fields'
    `get_db_prep_save` as with the ORM."""
    if rows:
        execute_together([insert_statement(model, fields, rows)])


def insert_statement(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence]) -> Statement:
    """The statement `insert` runs (at least one row), to send with others (`execute_together`)."""
    meta = [model._meta.get_field(name) for name in fields]
    names = ", ".join(connection.ops.quote_name(field.column) for field in meta)
    values = ", ".join(["(" + ", ".join(["%s"] * len(meta)) + ")"] * len(rows))
    return f"INSERT INTO {table(model)} ({names}) VALUES {values}", prepared(model, fields, rows)


def prepared(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence]) -> list:
    """The rows' values (of `fields`, by attribute name), one flat list, as the driver takes them: through
    the fields' `get_db_prep_save` as with the ORM (datetimes, JSON, decimals, ...)."""
    prepare = _preparers(model, tuple(fields), connection.alias)
    return [
        value if plain else field.get_db_prep_save(value, connection)
        for row in rows
        for (field, plain), value in zip(prepare, row, strict=True)
    ]


def create(obj: models.Model, fields: Sequence[str]) -> models.Model:
    """Insert one object's `fields` (by attribute name) and read its id back (`RETURNING`, PostgreSQL
    and SQLite 3.35+): `Model.objects.create` for a hot path, without the ORM's per-call query building.
    Set auto-now fields yourself; no signals are sent (none are connected to the models it is used for)."""
    model = type(obj)
    meta = [model._meta.get_field(name) for name in fields]
    prepare = _preparers(model, tuple(fields), connection.alias)
    params = [
        getattr(obj, field.attname) if plain else field.get_db_prep_save(getattr(obj, field.attname), connection)
        for field, plain in prepare
    ]
    names = ", ".join(connection.ops.quote_name(field.column) for field in meta)
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(model)} ({names}) VALUES ({', '.join(['%s'] * len(meta))}) RETURNING {pk}", params
        )
        obj.pk = cursor.fetchone()[0]
    obj._state.adding, obj._state.db = False, connection.alias
    return obj


def update(obj: models.Model, fields: Sequence[str]) -> None:
    """Write one object's `fields` (by name) to its row, by primary key: `save(update_fields=...)` for a
    hot path, without the ORM's per-call query building. Values are prepared as `create` prepares them;
    no signals are sent and no auto-now field is touched (set them yourself)."""
    execute_together([update_statement(obj, fields)])


def update_statement(obj: models.Model, fields: Sequence[str]) -> Statement:
    """The statement `update` runs, to send with others (`execute_together`)."""
    model = type(obj)
    prepare = _preparers(model, tuple(fields), connection.alias)
    params = [
        getattr(obj, field.attname) if plain else field.get_db_prep_save(getattr(obj, field.attname), connection)
        for field, plain in prepare
    ]
    return _update_sql(model, tuple(fields), connection.alias), [*params, obj.pk]


@cache
def _update_sql(model: type[models.Model], fields: tuple[str, ...], alias: str) -> str:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(model._meta.get_field(name).column)} = %s" for name in fields)
    return f"UPDATE {table(model)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"


def execute_together(statements: Sequence[Statement]) -> None:
    """Run `statements` in order: in one round trip on PostgreSQL (one simple query of several
    statements; psycopg2 binds the parameters on the client), one by one elsewhere. For writes whose
    results nobody reads (`fetch_last` also returns the last statement's rows). An error in any of them
    raises as that statement alone would have, and the transaction is aborted either way."""
    with connection.cursor() as cursor:
        _run(cursor, statements)


def fetch_last(statements: Sequence[Statement]) -> list[tuple]:
    """`execute_together`, returning the rows of the last statement (a SELECT or a RETURNING)."""
    with connection.cursor() as cursor:
        _run(cursor, statements)
        return cursor.fetchall()


def _run(cursor, statements: Sequence[Statement]) -> None:
    if connection.vendor == "postgresql" and len(statements) > 1:
        cursor.execute(TOGETHER.join(cursor.mogrify(sql, params).decode() for sql, params in statements))
        return
    for sql, params in statements:
        cursor.execute(sql, params)


#: Field types whose Python values the driver takes as they are (no `get_db_prep_save` needed).
PLAIN_FIELDS = (models.IntegerField, models.CharField, models.TextField, models.ForeignKey)


@cache
def _preparers(model: type[models.Model], fields: tuple[str, ...], alias: str) -> list:
    return [(field, isinstance(field, PLAIN_FIELDS)) for field in (model._meta.get_field(name) for name in fields)]
