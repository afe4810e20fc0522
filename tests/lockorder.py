"""The lock-order checker: a row lock taken after an event append, or against the global lock order,
fails the test.

Why: every append takes the event log's transaction-scoped append lock (scm/events/store.py) and
keeps it until commit. A transaction that appended and then waits for a row lock can deadlock with
one that holds that row and waits for the append lock. So services take every row lock up front,
in the one documented order (docs/ARCHITECTURE.md, "Lock order"), then write, then append.

How: a wrapper around every SQL statement of every connection (threads included) follows each
service transaction. It notes the rows each statement that can lock rows targets:
`SELECT ... FOR UPDATE/NO KEY UPDATE/SHARE/KEY SHARE` (the rows it returns), `UPDATE` and `DELETE`
(the rows their WHERE matches), `INSERT ... ON CONFLICT DO UPDATE` (the row with the conflict key).
Once the transaction has appended (`scm_append_events(...)` or `scm_append_events_many(...)`), such a statement
targeting a row the transaction neither locked nor wrote before is a violation; re-locking or
re-writing a row it already holds cannot wait and is fine (SKIP LOCKED and NOWAIT never wait
either). `LOCK TABLE` and `pg_advisory_xact_lock(...)` after an append are always violations.
Before or after an append, a new lock on a kind of row that comes earlier in `LOCK_ORDER` than one
the transaction already holds is a violation too (an order line after a balance, say).

"Transaction" means the outermost atomic block that is not pytest-django's test-case wrapper, so
services called one after the other in a `db` test count as separate transactions, as they are in
production. Targets are found by running the statement's row selection once more (a SELECT of the
primary keys with the same WHERE); rows the transaction wrote are those whose visible version was
created by an xid still in progress and drawn after the transaction began (savepoints have xids of
their own; in a `db` test the setup writes in the same database transaction). Row locks, and these
deadlocks, exist on PostgreSQL only: on SQLite, which serialises writers, the checker does nothing.

tests/conftest.py installs it for the whole suite; a test that breaks the rule on purpose says so
with `@pytest.mark.allow_lock_after_append`. Violations being worked off are listed in
tests/lockorder_baseline.txt (they do not fail tests; the goal is an empty list).
`LOCK_ORDER_REPORT=<file>` writes the violations to that file instead of failing (to list them all
in one run).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.db import connections, transaction
from django.db.backends.signals import connection_created

from scm.raw_sql import TOGETHER

ROOT = Path(__file__).resolve().parent.parent
_NOT_THE_CALLER = ("tests/lockorder.py", "scm/events/store.py", "scm/raw_sql.py")

APPEND = re.compile(r"\bscm_append_events(?:_many)?\s*\(", re.IGNORECASE)
ALWAYS_WAITS = re.compile(r"\bpg_advisory_xact_lock\s*\(|^\s*LOCK\s+TABLE\b", re.IGNORECASE)
LOCK_CLAUSE = re.compile(
    r"\sFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|SHARE|KEY\s+SHARE)(?P<rest>(?:\s+OF\s+[\w\",\s]+?)?"
    r"(?:\s+SKIP\s+LOCKED|\s+NOWAIT)?)\s*$",
    re.IGNORECASE,
)
NEVER_WAITS = re.compile(r"SKIP\s+LOCKED|NOWAIT", re.IGNORECASE)
OF_TABLES = re.compile(r"\bOF\s+(?P<names>\"?\w+\"?(?:\s*,\s*\"?\w+\"?)*)", re.IGNORECASE)
TABLE_IN_FROM = re.compile(r"\b(?:FROM|JOIN)\s+\"(\w+)\"(?!\s+(?:AS\s+)?\"?T\d)", re.IGNORECASE)
UPDATE = re.compile(r"^\s*UPDATE\s+\"?(\w+)\"?\s+SET\s", re.IGNORECASE)
DELETE = re.compile(r"^\s*DELETE\s+FROM\s+\"?(\w+)\"?", re.IGNORECASE)
UPSERT = re.compile(
    r"^\s*INSERT\s+INTO\s+\"?(?P<table>\w+)\"?\s*\((?P<columns>[^)]*)\)\s*VALUES\s*\((?P<values>[^)]*)\)\s*"
    r"ON\s+CONFLICT\s*\((?P<key>[^)]*)\)\s*DO\s+UPDATE\b",
    re.IGNORECASE,
)

Row = tuple[str, object]

LOCK_ORDER = (
    ("events_subscription", "suppliers_inboundmessage", "shipments_trackingupdate"),
    ("suppliers_supplier",),
    ("orders_salesorder",),
    ("orders_orderline",),
    ("orders_allocation",),
    ("orders_fulfillmentworkflow",),
    ("suppliers_purchaseorder",),
    ("suppliers_purchaseorderline",),
    ("suppliers_shipnoticeline",),
    ("shipments_shipment",),
    ("inventory_balance",),
    ("inventory_reservation",),
    ("inventory_inboundsupply",),
)
"""The global lock order of docs/ARCHITECTURE.md ("Lock order"), by table: a transaction never takes
a row lock on a kind of row listed before one it already holds. (Within a kind, the services lock in
key order in one statement; that part is not checked here.)"""
RANK = {table: rank for rank, tables in enumerate(LOCK_ORDER) for table in tables}


@dataclass(frozen=True)
class Violation:
    lock: str
    lock_site: str
    append_site: str
    transaction_site: str
    rows: str = field(default="", compare=False)

    @property
    def key(self) -> str:
        """The violation without line numbers or rows: what the baseline file lists."""
        strip = re.compile(r":\d+ ")
        after = f" after an append at {strip.sub(' ', self.append_site)}" if self.append_site else ""
        return f"{self.lock} at {strip.sub(' ', self.lock_site)}{after}"

    def __str__(self) -> str:
        rows = f" (rows not held: {self.rows})" if self.rows else ""
        after = f" after an event append at {self.append_site}" if self.append_site else ""
        return f"{self.lock}{rows} at {self.lock_site}{after} (transaction opened by {self.transaction_site})"


@dataclass
class _State:
    transaction: int = 0
    transaction_site: str = "?"
    watermark: int | None = None
    appended: bool = False
    append_site: str = ""
    held: set[Row] = field(default_factory=set)
    highest: tuple[int, str] = (-1, "")


_guard = threading.Lock()
_violations: list[Violation] = []
_installed = False
_original_enter = transaction.Atomic.__enter__


# --- Where things happened --------------------------------------------------------------------


def _project_frame(filename: str) -> bool:
    return filename.startswith(str(ROOT)) and "/.venv/" not in filename and not filename.endswith(_NOT_THE_CALLER)


def _describe(frame) -> str:
    return f"{Path(frame.f_code.co_filename).relative_to(ROOT)}:{frame.f_lineno} ({frame.f_code.co_name})"


def _caller_site() -> str:
    """The innermost project frame outside the checker and the event store."""
    frame = sys._getframe(1)
    while frame is not None:
        if _project_frame(frame.f_code.co_filename):
            return _describe(frame)
        frame = frame.f_back
    return "?"


def _opener_site() -> str:
    """Who opened the transaction: the function an `@transaction.atomic` decorates, or the project
    frame running the `with transaction.atomic()`."""
    frame = sys._getframe(2)
    while frame is not None:
        func = frame.f_locals.get("func") if frame.f_code.co_name == "inner" else None
        if func is not None and hasattr(func, "__qualname__"):
            return f"{func.__module__}.{func.__qualname__}"
        if _project_frame(frame.f_code.co_filename):
            return _describe(frame)
        frame = frame.f_back
    return "?"


# --- Transactions -----------------------------------------------------------------------------


def _state(connection) -> _State:
    state = getattr(connection, "_lock_order_state", None)
    if state is None:
        state = connection._lock_order_state = _State()
    return state


def _in_service_transaction(connection) -> bool:
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def _enter(self):
    connection = transaction.get_connection(self.using)
    opens = not getattr(self, "_from_testcase", False) and not _in_service_transaction(connection)
    result = _original_enter(self)
    if opens:
        state = connection._lock_order_state = _State(transaction=_state(connection).transaction + 1)
        state.transaction_site = _opener_site()
    return result


_side_guard = threading.Lock()
_side: dict[str, object] = {}


def _watermark(connection) -> int:
    """An xid newer than any the service transaction has: drawn on a second connection (to the
    `postgres` database, so that it never keeps the test database from being dropped)."""
    with _side_guard:
        side = _side.get("connection")
        if side is None or side.closed:
            params = {**connection.get_connection_params(), "dbname": "postgres"}
            side = _side["connection"] = connection.get_new_connection(params)
            side.autocommit = True
        with side.cursor() as cursor:
            cursor.execute("SELECT txid_current()")
            return cursor.fetchone()[0] % 2**32  # epoch 0 in a test cluster: xid == txid


# --- Which rows a statement locks -------------------------------------------------------------

_pk_columns: dict[str, str] = {}


def _pk_column(table: str) -> str | None:
    if not _pk_columns:
        _pk_columns.update({m._meta.db_table: m._meta.pk.column for m in apps.get_models(include_auto_created=True)})
    return _pk_columns.get(table)


def _top_level(sql: str, keyword: str) -> int:
    """Index of the first `keyword` (surrounded by spaces) outside parentheses, or -1."""
    depth, word = 0, f" {keyword} "
    for index, char in enumerate(sql):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth == 0 and sql[index : index + len(word)].upper() == word:
            return index
    return -1


@dataclass(frozen=True)
class Probe:
    """What a statement locks and how to list those rows: `sql` selects (table, pk) pairs."""

    what: str
    sql: str
    params: list
    waits: bool = True


def _select_probe(sql: str, params: list) -> Probe | None:
    clause = LOCK_CLAUSE.search(sql)
    start = _top_level(sql, "FROM")
    if clause is None or start < 0 or not sql.lstrip().upper().startswith("SELECT"):
        return None
    of = OF_TABLES.search(clause.group("rest"))
    body = sql[start : clause.start()]
    tables = (
        [name.strip().strip('"') for name in of.group("names").split(",")]
        if of
        else list(dict.fromkeys(TABLE_IN_FROM.findall(body)))
    )
    if not tables or any(_pk_column(table) is None for table in tables):
        return None
    skipped = sql[:start].count("%s")
    selects = [f'(SELECT \'{table}\', "{table}"."{_pk_column(table)}"::text{body})' for table in tables]
    return Probe(
        f"SELECT ... FOR UPDATE on {', '.join(tables)}",
        " UNION ".join(selects),
        list(params or [])[skipped:] * len(tables),
        waits=not NEVER_WAITS.search(clause.group("rest")),
    )


def _write_probe(sql: str, params: list) -> Probe | None:
    update, delete, upsert = UPDATE.match(sql), DELETE.match(sql), UPSERT.match(sql)
    params = list(params or [])
    if update or delete:
        table = (update or delete).group(1)
        pk = _pk_column(table)
        where = _top_level(sql, "WHERE")
        if pk is None:
            return None
        returning = _top_level(sql, "RETURNING")
        end = returning if returning >= 0 else len(sql)
        condition, skipped = (sql[where:end], sql[:where].count("%s")) if where >= 0 else ("", len(params))
        params = params[: len(params) - sql[end:].count("%s")] if returning >= 0 else params
        verb = "UPDATE" if update else "DELETE"
        return Probe(
            f"{verb} on {table}",
            f'SELECT \'{table}\', "{table}"."{pk}"::text FROM "{table}"{condition}',
            params[skipped:],
        )
    if upsert:
        table, pk = upsert.group("table"), _pk_column(upsert.group("table"))
        columns = [name.strip().strip('"') for name in upsert.group("columns").split(",")]
        values = [value.strip() for value in upsert.group("values").split(",")]
        key = [name.strip().strip('"') for name in upsert.group("key").split(",")]
        if pk is None or len(columns) != len(values) or not set(key) <= set(columns):
            return None
        bound, position = {}, 0
        for column, value in zip(columns, values, strict=True):
            bound[column] = params[position] if value == "%s" else value
            position += value == "%s"
        condition = " AND ".join(f'"{name}" = %s' for name in key)
        return Probe(
            f"INSERT ... ON CONFLICT DO UPDATE on {table}",
            f'SELECT \'{table}\', "{pk}"::text FROM "{table}" WHERE {condition}',
            [bound[n] for n in key],
        )
    return None


def probe_for(sql: str, params) -> Probe | None:
    """The rows this statement would lock, as a query; None when it locks no existing row."""
    return _write_probe(sql, params) or _select_probe(sql, params)


def _rows(connection, probe: Probe) -> set[Row] | None:
    """The probe's rows, run in a savepoint so that a statement the checker misreads cannot abort
    the test's transaction (None then)."""
    with connection.connection.cursor() as cursor:  # the raw cursor: not seen by the wrapper
        cursor.execute("SAVEPOINT lock_order_probe")
        try:
            cursor.execute(probe.sql, probe.params or None)
            rows = {(table, pk) for table, pk in cursor.fetchall()}
        except Exception:  # noqa: BLE001 - reported as a checker failure by the caller
            cursor.execute("ROLLBACK TO SAVEPOINT lock_order_probe")
            return None
        cursor.execute("RELEASE SAVEPOINT lock_order_probe")
        return rows


def _written_by_transaction(connection, rows: set[Row], watermark: int) -> set[Row]:
    """The rows whose visible version this transaction created (others' uncommitted rows are
    invisible, so a visible row from an xid in progress is ours; newer than the watermark: this
    service's, not the test setup's)."""
    found: set[Row] = set()
    with connection.connection.cursor() as cursor:
        for table in {table for table, _ in rows}:
            pk = _pk_column(table)
            cursor.execute(
                f'SELECT "{pk}"::text FROM "{table}" WHERE "{pk}"::text = ANY(%s) '
                "AND pg_xact_status(xmin::text::xid8) = 'in progress' AND xmin::text::bigint >= %s",
                [[key for name, key in rows if name == table], watermark],
            )
            found.update((table, key) for (key,) in cursor.fetchall())
    return found


# --- The wrapper ------------------------------------------------------------------------------


def _wrapper(execute, sql, params, many, context):
    connection = context["connection"]
    if connection.vendor != "postgresql" or not isinstance(sql, str) or not _in_service_transaction(connection):
        return execute(sql, params, many, context)
    state = _state(connection)
    if state.watermark is None:
        state.watermark = _watermark(connection)
    if TOGETHER in sql:
        # Statements sent in one round trip (`raw_sql.execute_together`), parameters bound already:
        # each is looked at in turn, as if sent alone.
        for part in sql.split(TOGETHER):
            _look_at(connection, state, part, None, many)
            _note_append(state, part)
        return execute(sql, params, many, context)
    _look_at(connection, state, sql, params, many)
    result = execute(sql, params, many, context)
    _note_append(state, sql)
    return result


def _look_at(connection, state: _State, sql: str, params, many: bool) -> None:
    """Check the rows one statement is about to lock against what the transaction holds."""
    if state.appended and ALWAYS_WAITS.search(sql):
        _report(state, ALWAYS_WAITS.search(sql).group(0).strip(" (").upper())
    probe = None if many else probe_for(sql, params)
    if probe is None:
        return
    rows = _rows(connection, probe)
    if rows is None:
        _report(state, f"(checker) cannot tell which rows this locks: {sql[:300]}")
        rows = set()
    elif probe.waits and rows - state.held:
        _check_new_locks(connection, state, probe, rows - state.held)
    state.held |= rows
    state.highest = max([state.highest, *((RANK[table], table) for table, _ in rows if table in RANK)])


def _note_append(state: _State, sql: str) -> None:
    if not state.appended and APPEND.search(sql):
        state.appended, state.append_site = True, _caller_site()


def _check_new_locks(connection, state: _State, probe: Probe, candidates: set[Row]) -> None:
    """Rows this statement may wait for that the transaction does not hold: none may follow an
    append, and none may be of a kind that comes before one it already holds."""
    out_of_order = {(t, pk) for t, pk in candidates if t in RANK and RANK[t] < state.highest[0]}
    if not state.appended and not out_of_order:
        return
    new = candidates - _written_by_transaction(connection, candidates, state.watermark)
    shown = ", ".join(f"{table}#{pk}" for table, pk in sorted(new)[:4])
    if state.appended and new:
        _report(state, probe.what, shown)
    elif new & out_of_order:
        tables = ", ".join(sorted({table for table, _ in new & out_of_order}))
        _report(
            state, f"{probe.what}: {tables} after {state.highest[1]}, against the lock order", shown, appended=False
        )


def _report(state: _State, lock: str, rows: str = "", *, appended: bool = True) -> None:
    violation = Violation(lock, _caller_site(), state.append_site if appended else "", state.transaction_site, rows)
    with _guard:
        _violations.append(violation)


# --- Installing and asserting -----------------------------------------------------------------


def _install_on(connection, **_) -> None:
    if _wrapper not in connection.execute_wrappers:
        # First in the list: `connection.execute_wrapper()` context managers pop the last one.
        connection.execute_wrappers.insert(0, _wrapper)


def install() -> None:
    """Watch every connection, present and future (threads open their own)."""
    global _installed
    if _installed:
        return
    transaction.Atomic.__enter__ = _enter
    connection_created.connect(_install_on, dispatch_uid="tests.lockorder")
    _installed = True


def reset() -> None:
    with _guard:
        _violations.clear()
    for connection in connections.all(initialized_only=True):
        _install_on(connection)


def violations() -> list[Violation]:
    with _guard:
        return list(dict.fromkeys(_violations))


BASELINE = Path(__file__).with_name("lockorder_baseline.txt")


def baseline() -> set[str]:
    """Violations known and being fixed (issue 13): listed by key, one a line; they do not fail tests."""
    if not BASELINE.exists():
        return set()
    lines = BASELINE.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def assert_clean(test_id: str = "") -> None:
    """Fail with every distinct violation seen since `reset()` that the baseline does not list (or
    write them all to LOCK_ORDER_REPORT)."""
    found = violations()
    report = os.environ.get("LOCK_ORDER_REPORT")
    if not report:
        known = baseline()
        found = [violation for violation in found if violation.key not in known]
    if not found:
        return
    if report:
        with open(report, "a", encoding="utf-8") as out:
            out.writelines(f"{test_id}\t{violation.key}\t{violation}\n" for violation in found)
        return
    raise AssertionError(
        "Row lock taken after an event append (take every lock up front, then write, then append):\n"
        + "\n".join(f"- {violation}" for violation in found)
    )
