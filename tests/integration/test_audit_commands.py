"""check_balances and rebuild_balances as operators run them: real processes against PostgreSQL, on a
database holding a month of seed_demo history.

The commands judge the whole database, so they get one of their own (the shared test database holds
whatever other tests committed). Seeding a month takes a minute or two, so the seeded database is
kept as a template named after a fingerprint of the migrations and the simulation, and each run
works on a fresh copy of it: the first run pays, later runs copy in a second.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SEED = ["seed_demo", "--days", "30", "--skus", "12", "--orders-per-day", "3"]
COMMAND_TIMEOUT = 120


def fingerprint() -> str:
    """Changes whenever the schema or the simulated month would."""
    digest = hashlib.sha256(" ".join(SEED).encode())
    for path in sorted(ROOT.glob("*/migrations/*.py")) + sorted(ROOT.glob("scm/*/migrations/*.py")):
        digest.update(path.read_bytes())
    for path in sorted((ROOT / "dashboard" / "demo").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def database_url(name: str) -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    return f"postgres://{s['USER']}{password}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{name}"


def admin():
    s = connection.settings_dict
    link = psycopg2.connect(
        dbname="postgres", user=s["USER"], password=s["PASSWORD"], host=s["HOST"] or "127.0.0.1", port=s["PORT"]
    )
    link.autocommit = True
    return link


def manage(url: str, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "test-only-secret-key"}
    env.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def ensure_template(link, template: str, prefix: str) -> None:
    with link.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [prefix + "%"])
        existing = [name for (name,) in cursor.fetchall()]
        if template in existing:
            return
        for stale in existing:  # older fingerprints, or a build that died half way
            cursor.execute(f'DROP DATABASE "{stale}" WITH (FORCE)')
        building = f"{prefix}building"
        cursor.execute(f'CREATE DATABASE "{building}"')
        url = database_url(building)
        for step, limit in ((["migrate", "-v0"], 300), (SEED, 900)):
            done = manage(url, *step, timeout=limit)
            assert done.returncode == 0, f"{step[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')


@pytest.fixture(scope="module")
def audit_db(django_db_setup, django_db_blocker):
    """The URL of a fresh copy of a database with a month of seed_demo history."""
    with django_db_blocker.unblock():
        base = connection.settings_dict["NAME"]
    prefix = f"{base}_audit_tpl_"
    template, work = f"{prefix}{fingerprint()}", f"{base}_audit"
    link = admin()
    try:
        ensure_template(link, template, prefix)
        with link.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{work}" TEMPLATE "{template}"')
        yield database_url(work)
        with link.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{work}" WITH (FORCE)')
    finally:
        link.close()


def sql(url: str, statement: str, params=None) -> list[tuple]:
    link = psycopg2.connect(url)
    try:
        with link, link.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        link.close()


def drift_one_balance(url: str) -> tuple[str, str, int]:
    """Corrupt one balance behind the services' back; returns (sku, location, on_hand before)."""
    [(balance_id, sku, location, on_hand)] = sql(
        url,
        "SELECT b.id, i.sku, l.code, b.on_hand FROM inventory_balance b JOIN inventory_item i ON i.id = b.item_id "
        "JOIN inventory_location l ON l.id = b.location_id WHERE b.on_hand > 0 ORDER BY b.id LIMIT 1",
    )
    sql(url, "UPDATE inventory_balance SET on_hand = on_hand + 7 WHERE id = %s", [balance_id])
    return sku, location, on_hand


def test_the_seeded_month_checks_consistent_with_progress_and_the_event_log(audit_db):
    [(events,)] = sql(audit_db, "SELECT count(*) FROM events_event WHERE type = 'ReservationConsumed'")
    assert events > 20  # a month of shipping, not an empty database

    done = manage(audit_db, "check_balances", "--events")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == (
        "balances are consistent with the ledger, reservations, inbound supply and the event log"
    )
    assert "checking balances as of " in done.stderr
    assert " balances compared with the ledger, reservations and inbound supply" in done.stderr
    assert " event movements replayed" in done.stderr


def test_drift_is_reported_rebuilt_from_the_ledger_and_then_checks_clean(audit_db):
    sku, location, on_hand = drift_one_balance(audit_db)

    found = manage(audit_db, "check_balances", "--events")
    assert found.returncode == 1
    assert found.stdout.splitlines() == [
        f"{sku}@{location} on_hand: projection {on_hand + 7}, ledger says {on_hand}",
        f"{sku}@{location} on_hand: projection {on_hand + 7}, event log says {on_hand}",
        "2 difference(s)",
    ]

    rebuilt = manage(audit_db, "rebuild_balances")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip().endswith("balances, 1 changed")
    assert " rows read" in rebuilt.stderr

    again = manage(audit_db, "check_balances", "--events")
    assert again.returncode == 0, again.stdout + again.stderr


WAITING_FOR_THE_TABLE_LOCK = (
    "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LOCK TABLE inventory_balance%' AND wait_event_type = 'Lock'"
)


def test_rebuild_interrupted_changes_nothing_and_a_rerun_finishes_the_job(audit_db):
    sku, location, on_hand = drift_one_balance(audit_db)
    blocker = psycopg2.connect(audit_db)
    try:
        with blocker.cursor() as cursor:  # a stock write in flight: rebuild waits for it to commit
            cursor.execute("SELECT id FROM inventory_balance ORDER BY id LIMIT 1 FOR UPDATE")
        env = {**os.environ, "DATABASE_URL": audit_db, "SECRET_KEY": "test-only-secret-key"}
        env.pop("REDIS_URL", None)
        rebuild = subprocess.Popen(
            [sys.executable, "manage.py", "rebuild_balances"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while not sql(audit_db, WAITING_FOR_THE_TABLE_LOCK):
            assert rebuild.poll() is None and time.monotonic() < deadline, "rebuild never reached the lock"
            time.sleep(0.1)
        rebuild.send_signal(signal.SIGINT)
        out, err = rebuild.communicate(timeout=30)
    finally:
        blocker.close()

    assert rebuild.returncode == 130
    assert "interrupted: rolled back, no balance changed; run it again" in err
    [(now,)] = sql(
        audit_db,
        "SELECT b.on_hand FROM inventory_balance b JOIN inventory_item i ON i.id = b.item_id "
        "JOIN inventory_location l ON l.id = b.location_id WHERE i.sku = %s AND l.code = %s",
        [sku, location],
    )
    assert now == on_hand + 7  # still drifted: nothing was written

    rerun = manage(audit_db, "rebuild_balances", "--source", "events")
    assert rerun.returncode == 0 and rerun.stdout.strip().endswith("balances, 1 changed"), rerun.stderr
    assert manage(audit_db, "check_balances", "--events").returncode == 0
