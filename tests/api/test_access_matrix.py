"""Every operation of the live schema × every role, checked against the access matrix in docs/API.md.

The matrix is the one declaration of who may do what; the views declare it again in code
(`role_grants`, `supplier_grants`). This test reads the table from the doc and asks the running
application, through real tokens, for every operation the schema lists:

- anonymous, planner, ops, unbound integration, supplier-bound A on A's objects and supplier-bound
  B on B's objects: a `no` cell must be refused (401 anonymous, 403 otherwise) and a `yes`/`own`
  cell must not be;
- supplier-bound A on B's objects, for every `own` operation that names an object: 404, exactly
  like an object that does not exist; and `own` lists as A hold A's rows and never B's.

An operation missing from the table, or a row whose operation left the schema, fails too. So a new
route, or a view whose declaration was removed, cannot pass unnoticed; the system check below makes
the same point statically (and `test_removing_any_declaration_is_reported` proves it for every view).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.checks import run_checks
from rest_framework.test import APIClient

from scm.api.checks import api_view_classes, check_api_access_declarations, declaration_problems
from scm.roles import OPS
from tests.api.world import World, url_for

pytestmark = pytest.mark.django_db

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"
ROLES = ("anonymous", "planner", "ops", "integration", "supplier-bound")
_ROW = re.compile(r"^\|\s*`(GET|POST|PUT|PATCH|DELETE) (/api/v1/\S*)`\s*\|(.+)\|\s*$")


def read_matrix() -> dict[tuple[str, str], dict[str, str]]:
    """{(METHOD, path): {role: "yes" | "no" | "own"}} from the table between the access-matrix markers."""
    text = API_DOC.read_text()
    begin, end = text.index("<!-- access-matrix:begin -->"), text.index("<!-- access-matrix:end -->")
    matrix = {}
    for line in text[begin:end].splitlines():
        found = _ROW.match(line)
        if not found:
            continue
        cells = [cell.strip() for cell in found.group(3).split("|")]
        assert len(cells) == len(ROLES), f"{line!r} has {len(cells)} role cells, expected {len(ROLES)}"
        assert set(cells) <= {"yes", "no", "own"}, line
        assert "own" not in cells[:-1], f"only the supplier-bound column may say own: {line!r}"
        key = (found.group(1), found.group(2))
        assert key not in matrix, f"{key} appears twice in the matrix"
        matrix[key] = dict(zip(ROLES, cells, strict=True))
    return matrix


def live_operations(ops: APIClient) -> set[tuple[str, str]]:
    response = ops.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    return {
        (method.upper(), path)
        for path, item in paths.items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def call(client: APIClient, method: str, url: str):
    if method in ("GET", "DELETE"):
        return getattr(client, method.lower())(url)
    return getattr(client, method.lower())(url, {}, format="json")


def refused_status(role: str) -> int:
    return 401 if role == "anonymous" else 403


def test_the_matrix_covers_every_operation_of_the_live_schema_and_nothing_else(world):
    matrix = read_matrix()
    live = live_operations(world.clients["ops"])
    assert sorted(live - matrix.keys()) == [], "operations missing from the access matrix in docs/API.md"
    assert sorted(matrix.keys() - live) == [], "matrix rows for operations the schema no longer has"


def test_every_role_gets_what_the_matrix_declares_for_every_operation(world):
    matrix = read_matrix()
    operations = sorted(live_operations(world.clients["ops"]) & matrix.keys(), key=_reads_first)
    wrong: list[str] = []
    # Pass 1: refusals and other suppliers' objects, before any allowed write can change the objects.
    for method, path in operations:
        cells = matrix[(method, path)]
        for role, actor, owner in _actors():
            if cells[role] == "no":
                response = call(world.clients[actor], method, url_for(path, world.objects[owner]))
                if response.status_code != refused_status(role):
                    wrong.append(f"{method} {path} as {actor}: {response.status_code}, expected refusal")
        if cells["supplier-bound"] == "own":
            wrong += _cross_supplier_problems(world, method, path)
    # Pass 2: what is allowed is not refused (reads first; ops last, as it may delete).
    for method, path in operations:
        cells = matrix[(method, path)]
        for role, actor, owner in sorted(_actors(), key=lambda row: row[0] == "ops"):
            if cells[role] == "no":
                continue
            response = call(world.clients[actor], method, url_for(path, world.objects[owner]))
            if response.status_code in (401, 403) or response.status_code >= 500:
                wrong.append(f"{method} {path} as {actor}: {response.status_code}, expected it allowed")
            elif method == "GET" and cells[role] == "own" and actor in ("A", "B") and response.status_code != 200:
                wrong.append(f"{method} {path} as {actor} on its own objects: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def _actors() -> list[tuple[str, str, str]]:
    """(matrix column, client, whose objects): the supplier-bound column is tried by A and by B."""
    return [
        ("anonymous", "anonymous", "A"),
        ("planner", "planner", "A"),
        ("integration", "integration", "A"),
        ("supplier-bound", "A", "A"),
        ("supplier-bound", "B", "B"),
        ("ops", "ops", "A"),
    ]


def _reads_first(operation: tuple[str, str]) -> tuple[int, str]:
    method, path = operation
    return (["GET", "POST", "PUT", "PATCH", "DELETE"].index(method), path)


def _cross_supplier_problems(world: World, method: str, path: str) -> list[str]:
    """Supplier A on B's objects: 404 for a named object; for a list, only A's rows."""
    client, code_a, code_b = world.clients["A"], world.supplier_codes["A"], world.supplier_codes["B"]
    if "{" in path:
        response = call(client, method, url_for(path, world.objects["B"]))
        if response.status_code != 404:
            return [f"{method} {path} as A on B's object: {response.status_code}, expected 404"]
        return []
    if method != "GET":
        return []
    response = call(client, method, path)
    text = response.content.decode()
    if response.status_code != 200 or code_b in text or code_a not in text:
        return [f"{method} {path} as A lists {response.status_code}: A's rows only expected, got {text[:300]}"]
    return []


def test_planners_read_raw_messages_only_when_the_setting_grants_it(world, settings):
    url = f"/api/v1/inbound-messages/{world.objects['A']['message_id']}/raw/"
    assert world.clients["planner"].get(url).status_code == 403
    settings.RAW_MESSAGES_READABLE_BY_PLANNERS = True
    assert world.clients["planner"].get(url).status_code == 200
    assert world.clients["integration"].get(url).status_code == 403


# --- The declarations themselves --------------------------------------------------------------


def test_every_api_view_declares_its_access_and_the_system_check_is_clean():
    assert len(api_view_classes()) > 40
    assert check_api_access_declarations() == []
    assert [e for e in run_checks() if e.id == "scm_api.E001"] == []


@pytest.mark.parametrize("attribute", ["role_grants", "supplier_grants"])
def test_removing_any_declaration_is_reported(attribute):
    """Take each view's declaration away in turn (wherever in its classes it lives): the check names it."""
    checked = 0
    for view_class in api_view_classes():
        if getattr(view_class, "access_exempt", ""):
            continue
        owners = [klass for klass in view_class.__mro__ if attribute in vars(klass)]
        saved = [(klass, vars(klass)[attribute]) for klass in owners]
        try:
            for klass in owners:
                delattr(klass, attribute)
            assert declaration_problems(view_class), f"{view_class.__name__} without {attribute} passed the check"
        finally:
            for klass, value in saved:
                setattr(klass, attribute, value)
        checked += 1
    assert checked > 40
    assert check_api_access_declarations() == []


def test_a_method_left_out_of_role_grants_is_reported_and_ops_only():
    from scm.api.permissions import granted_roles
    from shipments.api.views import ShipmentDetailView

    saved = ShipmentDetailView.role_grants
    ShipmentDetailView.role_grants = {}
    try:
        assert declaration_problems(ShipmentDetailView) == ["`role_grants` has no entry for GET"]
        assert granted_roles(ShipmentDetailView(), "GET") == (OPS,)
    finally:
        ShipmentDetailView.role_grants = saved
