"""Test fixtures shared by every kind of test.

Two ways to touch the database:
- `db` (pytest-django): the test runs inside a transaction that is rolled back. Most tests.
- `committed_db`: the test commits for real, so other connections (threads, subprocesses) see its
  data. Nothing is flushed afterwards (the event log is append-only, even for tests), so these
  tests use unique references and never assume the tables are empty.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.db import connection

import tests.event_types  # noqa: F401 - the test-only event types

# Tests talk plain HTTP to in-process clients, live servers and gunicorn subprocesses: no redirect to
# HTTPS. bin/test exports SECURE_SSL_REDIRECT=0 before Django reads its settings; this covers the
# subprocesses of a bare `pytest` run, the autouse fixture below the in-process clients. The production
# default stays on (tests/unit/test_deploy_settings.py).
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")

from tests import lockorder


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    sqlite_chosen = os.environ.get("TEST_ON_SQLITE") == "1"
    if os.environ.get("CI", "").lower() == "true" and not on_postgres and not sqlite_chosen:
        raise pytest.UsageError(
            "CI=true requires PostgreSQL (set DATABASE_URL), unless TEST_ON_SQLITE=1 chooses SQLite on purpose."
        )
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL or start it on 127.0.0.1:5432")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL")
    skip_nats = pytest.mark.skip(reason="needs nats-server with JetStream: set TEST_NATS_URL or start it on :4222")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not os.environ.get("TEST_REDIS_URL"):
            item.add_marker(skip_redis)
        if "nats" in item.keywords and not os.environ.get("TEST_NATS_URL"):
            item.add_marker(skip_nats)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    lockorder.install()
    lockorder.reset()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Every test doubles as a lock-order check: see tests/lockorder.py."""
    result = yield
    if item.get_closest_marker("allow_lock_after_append") is None:
        lockorder.assert_clean(item.nodeid)
    return result


@pytest.fixture(autouse=True)
def _quiet_dispatch(settings):
    """Tests drive subscriptions explicitly instead of by commit hooks, unless they opt in."""
    settings.EVENT_DISPATCH_ON_COMMIT = False
    settings.ORDER_WORKFLOW_AUTORUN = False
    # Tests share one database and commit many events; readiness tests that need the lag check set it.
    settings.READINESS_MAX_SUBSCRIPTION_LAG = -1
    # Likewise workflows other tests committed and left due; readiness tests of stalls set it.
    settings.READINESS_MAX_DUE_STEP_AGE_SECONDS = -1
    settings.SECURE_SSL_REDIRECT = False
    from scm import redis_pause

    redis_pause.reset()  # a Redis that one test refused must not pause the next one's calls


# Partners in tests (webhook receivers, TMS, feeds) are servers on loopback, which the outbound
# policy refuses. Tests about something else allow loopback; tests of the policy itself request the
# `strict_outbound` fixture and get no allow-list (they allow-list their own server explicitly).
LOOPBACK_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def _loopback_partners(request, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = [] if "strict_outbound" in request.fixturenames else LOOPBACK_NETWORKS


@pytest.fixture(autouse=True)
def _drop_folder_root(settings, tmp_path_factory):
    """Drop folders in tests are `tmp_path`s: all of them lie inside pytest's base temporary folder."""
    settings.SUPPLIER_DROP_FOLDER_ROOT = str(tmp_path_factory.getbasetemp())


@pytest.fixture
def strict_outbound():
    """Request it to run with the outbound policy's real allow-list (empty): nothing on loopback."""


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, django_db_modify_db_settings):
    """Always create the default test database, also when only `committed_db` tests are selected."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            aliases={"default"},
            serialized_aliases=set(),
        )
    yield
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=request.config.option.verbose)


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        yield
        connection.close()


@pytest.fixture
def unique():
    """A short unique suffix so tests sharing a committed database never collide."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
