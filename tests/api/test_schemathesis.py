"""Property-based fuzzing of the whole API against its own live OpenAPI schema (schemathesis).

The schema is fetched from the running WSGI application with the token of a real ops user, then
schemathesis generates valid and invalid requests for every operation it documents and checks
each response: never a 5xx, the status code and content type documented for the operation, and
the body valid against the documented schema (error bodies included).

Bounded so the whole file stays well under three minutes: few examples per operation, no
example database, deterministic generation (a failure reproduces on the next run). Raise
`SCHEMATHESIS_MAX_EXAMPLES` locally to dig deeper.

Operations excluded from the run are listed in EXCLUDED with the reason; each is a known defect
reported to its owner, to be removed from the list once fixed (`SCHEMATHESIS_ALL=1` runs them too).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scm.api.services import integration_user_create
from scm.roles import OPS

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(600)]

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# path regex -> why it is not fuzzed here (a known defect reported to its owner; remove the entry once fixed).
# Empty: the defects the first runs found in carriers, carrier-updates, suppliers, supplier-items and
# inbound-messages have been fixed by their owners.
EXCLUDED: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Requests through the real WSGI handler close "old" database connections when they start and
    finish, which would close the connection holding this test's transaction. Django's own test
    client switches that off the same way while it runs a request."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def ops_token(unique) -> str:
    return integration_user_create(username=f"fuzz-ops-{unique}", role=OPS).token


@pytest.fixture
def api_schema(ops_token):
    from scm.wsgi import application

    loaded = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, headers={"Authorization": f"Token {ops_token}"}
    )
    if not os.environ.get("SCHEMATHESIS_ALL"):  # SCHEMATHESIS_ALL=1 fuzzes the excluded operations too
        for pattern in EXCLUDED:
            loaded = loaded.exclude(path_regex=pattern)
    return loaded


def fuzz(operation, mode: schemathesis.GenerationMode, token: str) -> str | None:
    """Run one operation's generated cases; the failure report, or None when every case passed."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:
        # Nothing can be invalid about this operation's inputs (e.g. one free-form string in the path).
        if mode is schemathesis.GenerationMode.NEGATIVE:
            return None
        return f"{operation.label} [{mode.name.lower()}]: no valid request can be generated"
    # Several distinct failures arrive as schemathesis' FailureGroup, a BaseExceptionGroup.
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure, report all
        return f"{operation.label} [{mode.name.lower()}]:\n{exc}"
    return None


def test_no_server_errors_and_every_response_matches_the_schema(api_schema, ops_token):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert "POST /api/v1/orders/" in labels and "GET /api/v1/inventory/balances/" in labels
    failures = [
        report
        for operation in operations
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        if (report := fuzz(operation, mode, ops_token))
    ]
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
