"""Production security settings come from the environment with safe defaults (issue 14).

Each test starts a fresh Python process with the environment a deployment would have, because
settings are read once at startup: `manage.py check --deploy` must be clean in the production
shape, the production defaults must redirect to HTTPS (probes exempt), mark cookies Secure and send
HSTS behind a TLS-terminating proxy, and DEBUG (`bin/run`) must keep plain HTTP working.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


def production_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    # Not from the test run: its own security settings, and the browser tests' DJANGO_ALLOW_ASYNC_UNSAFE.
    inherited = ("SECURE_", "DEBUG", "SESSION_COOKIE_", "CSRF_", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {key: value for key, value in os.environ.items() if not key.startswith(inherited)}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "scm.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "scm.example.com",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
            "REDIS_URL": "",
            "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
            "CSRF_TRUSTED_ORIGINS": "https://scm.example.com",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.update(overrides)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_in_the_production_shape(tmp_path):
    done = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
               production_env(tmp_path, SECURE_HSTS_PRELOAD="1"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout


def test_without_preload_the_only_deploy_warning_is_the_preload_decision(tmp_path):
    """Every other production setting is already safe by default; HSTS preload stays the operator's call."""
    done = run([sys.executable, "manage.py", "check", "--deploy"], production_env(tmp_path))
    assert done.returncode == 0, done.stderr
    warnings = [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("?: (")]
    assert [line.split(")")[0] + ")" for line in warnings] == ["?: (security.W021)"]


_PROBE = """
import django, json
django.setup()
from django.conf import settings
from django.test import Client
http, https = Client(), Client(HTTP_X_FORWARDED_PROTO="https")
api = http.get("/api/v1/items/", HTTP_HOST="scm.example.com")
health = http.get("/healthz", HTTP_HOST="scm.example.com")
login = https.get("/accounts/login/", HTTP_HOST="scm.example.com")
print(json.dumps({
    "api": [api.status_code, api.get("Location")],
    "health": health.status_code,
    "login": login.status_code,
    "hsts": login.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(login.cookies["csrftoken"]["secure"]),
    "settings": {name: getattr(settings, name) for name in (
        "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS")},
}))
"""


def probe(env: dict[str, str]) -> dict:
    done = run([sys.executable, "-c", _PROBE], env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_production_defaults_redirect_to_https_mark_cookies_secure_and_send_hsts(tmp_path):
    seen = probe(production_env(tmp_path))
    assert seen["api"] == [301, "https://scm.example.com/api/v1/items/"]
    assert seen["health"] in (200, 503)  # probes speak plain HTTP: exempt from the redirect
    assert seen["login"] == 200
    assert seen["hsts"] == "max-age=31536000; includeSubDomains"
    assert seen["csrf_cookie_secure"] is True


def test_debug_keeps_plain_http_for_bin_run(tmp_path):
    env = production_env(tmp_path, DEBUG="1", ALLOWED_HOSTS="*")
    env.pop("SECURE_PROXY_SSL_HEADER")
    seen = probe(env)
    assert seen["settings"] == {
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
    }
    assert seen["api"][0] == 401  # answered over HTTP, not redirected
