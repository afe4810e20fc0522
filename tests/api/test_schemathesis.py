"""Property-based fuzzing of the whole API against its own live OpenAPI schema (schemathesis).

The schema is fetched from the running WSGI application with the token of a real ops user; then,
for every operation it documents, schemathesis runs

- the **coverage** phase: deterministic boundary and negative cases derived from each parameter
  and body schema (missing and extra fields, wrong types, values just outside min/max and length
  limits, unexpected HTTP methods), and
- the **fuzzing** phase: `SCHEMATHESIS_MAX_EXAMPLES` (default 25) random valid and invalid requests.

over a database holding one of everything (the access-matrix world: suppliers with their orders and
messages, an order, a shipment, a webhook), so lists serialize real rows and paging meets real data.

Each response is checked: never a 5xx, a status code the operation documents, the documented
content type, and a body valid against the documented schema (error bodies included). Generation is
deterministic (derandomized, no example database), so a failure reproduces on the next run; the
whole file stays around two minutes at the default on a quiet machine. Raise
`SCHEMATHESIS_MAX_EXAMPLES` to dig deeper; `SCHEMATHESIS_PATHS=<regex>` fuzzes only matching paths.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from scm.api.services import integration_user_create
from scm.roles import OPS

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.timeout(900)]

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PHASES = ["coverage", "fuzzing"]


@pytest.fixture
def keep_the_test_connection(world):  # after the world is built: its test client reconnects the signal
    """Requests through the real WSGI handler close "old" database connections when they start and
    finish, which would close the connection holding this test's transaction. Django's own test
    client switches that off the same way while it runs a request (and switches it on again after,
    so this runs once the fixtures' own requests are done)."""
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
def api_schema(ops_token, keep_the_test_connection, settings):
    # The token endpoint hashes every password it is sent (hundreds of cases): a fast hasher keeps the run short.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from scm.wsgi import application

    loaded = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, headers={"Authorization": f"Token {ops_token}"}
    )
    if os.environ.get("SCHEMATHESIS_PATHS"):
        loaded = loaded.include(path_regex=os.environ["SCHEMATHESIS_PATHS"])
    loaded.config.phases.update(phases=PHASES)
    loaded.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=MAX_EXAMPLES)
    return loaded


def fuzz(operation, token: str) -> str | None:
    """Run one operation's coverage and fuzzing cases; the failure report, or None when all passed.

    The pytest plugin (`@schema.parametrize()`) would do the same per operation, but it does not run
    under pytest 9; this builds the same Hypothesis test with schemathesis' own builder.
    """

    def check(case) -> None:
        case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)

    test = create_test(
        operation=operation,
        test_func=check,
        config=HypothesisTestConfig(
            project=operation.schema.config,
            modes=[HypothesisTestMode.COVERAGE, HypothesisTestMode.FUZZING],
            settings=settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        ),
    )
    try:
        test()
    except Unsatisfiable:
        return None  # nothing more to generate for it (e.g. one free-form string in the path)
    # Several distinct failures arrive as schemathesis' FailureGroup, a BaseExceptionGroup.
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect every operation's failure, report all
        return f"{operation.label}:\n{exc}"
    return None


def test_no_server_errors_and_every_response_matches_the_schema(api_schema, ops_token):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    labels = {operation.label for operation in operations}
    if not os.environ.get("SCHEMATHESIS_PATHS"):
        assert "POST /api/v1/orders/" in labels and "GET /api/v1/inventory/balances/" in labels
        assert len(operations) > 70
    failures = [report for operation in operations if (report := fuzz(operation, ops_token))]
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
