"""Token clients for each role, for every API test module."""

from __future__ import annotations

import pytest

from scm.roles import INTEGRATION, OPS, PLANNER
from tests.api.helpers import client_for
from tests.api.world import world  # noqa: F401 - two suppliers and one of everything, for matrix and fuzz tests


@pytest.fixture
def ops(unique):
    return client_for(f"ops-{unique}", OPS)


@pytest.fixture
def planner(unique):
    return client_for(f"planner-{unique}", PLANNER)


@pytest.fixture
def integration(unique):
    return client_for(f"int-{unique}", INTEGRATION)
