"""Liveness and readiness, including a database that is really unreachable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def _readyz_in_subprocess(**env: str) -> tuple[int, dict]:
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/readyz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "scm.settings",
            "SECRET_KEY": "test",
            "ALLOWED_HOSTS": "testserver",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    return result["status"], result["body"]


def test_readyz_answers_503_naming_the_database_when_it_is_unreachable():
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    status, body = _readyz_in_subprocess(DATABASE_URL="postgres://postgres@127.0.0.1:1/scm", REDIS_URL="")
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("OperationalError")


def test_readyz_answers_503_naming_the_broker_when_it_is_unreachable(tmp_path):
    status, body = _readyz_in_subprocess(
        DATABASE_URL=f"sqlite:///{tmp_path / 'ready.sqlite3'}", REDIS_URL="redis://127.0.0.1:1/0"
    )
    assert status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("ConnectionError")
