"""docs/ARCHITECTURE.md's Layout table names every non-test module (issue 18): a new module without
its row fails here. A module is found by its full path, by a directory written in a row plus the rest
of its path as a token of the same row, or by the rooms row (`<app>/<room>` for each listed app)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def layout_rows() -> list[str]:
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    layout = doc[doc.index("### Layout") : doc.index("## The event log")]
    return [line for line in layout.splitlines() if line.startswith("| ") and not line.startswith("| module")]


def project_modules() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [
        path
        for path in listed.stdout.split()
        if not (path.startswith("tests/") or "/migrations/" in path) and not path.endswith(("__init__.py", "/apps.py"))
    ]


def token_in(token: str, text: str) -> bool:
    """`views.py` is a token of "`views.py`" but not of "api/views.py"."""
    return re.search(r"(?<![\w/.])" + re.escape(token) + r"(?![\w/])", text) is not None


def findable(path: str, rows: list[str]) -> bool:
    rooms_cell = next(row for row in rows if row.startswith("| rooms:")).split("|")[1]
    names = re.findall(r"`([^`]+)`", rooms_cell)
    rooms = {name.removeprefix("<app>/") for name in names if name.startswith("<app>/")}
    apps = {name for name in names if name.endswith("/") and "<" not in name}
    if any(app + room == path for app in apps for room in rooms):
        return True
    parts = path.split("/")
    for row in rows:
        cell = row.split("|")[1]
        if token_in(path, cell):
            return True
        for cut in range(1, len(parts)):
            prefix, rest = "/".join(parts[:cut]) + "/", "/".join(parts[cut:])
            if prefix in cell and token_in(rest, cell):
                return True
    return False


def test_every_module_has_its_row_in_the_layout_table():
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to list the modules")
    rows = layout_rows()
    missing = [path for path in project_modules() if not findable(path, rows)]
    assert not missing, f"add these to docs/ARCHITECTURE.md, Layout: {missing}"
