"""Browser tests: Debian's Chromium driven by Playwright against the real app on a live server.

- Chromium is `/usr/bin/chromium` (Debian's package; `.ci/run` installs it). Playwright never
  downloads a browser here. Without Chromium the tests skip with the reason, except under
  CI=true, where a missing browser fails them.
- The server is pytest-django's `LiveServer` (what its `live_server` fixture runs) started by a
  module fixture on committed data: the `live_server` fixture itself would flush the database
  after each test, which the append-only event log refuses (and which would wipe shared data).
- Data comes from `seed_demo` with a unique prefix, so usernames and codes never collide.
- Screenshots go to `test-artifacts/` (gitignored) at the repository root.
"""

from __future__ import annotations

import io
import os
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium, shared by the session."""
    if not CHROMIUM.exists():
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -r requirements.txt)")
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls are
    # still plain synchronous code, so Django's async-context guard is lifted while it runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    manager = sync_playwright().start()
    browser = manager.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
    yield browser
    browser.close()
    manager.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A small seeded network (prefix, usernames) and a live server over it."""
    from pytest_django.live_server_helper import LiveServer

    from scm.events import store
    from scm.events.models import Subscription

    prefix = f"b{uuid.uuid4().hex[:6]}-"
    with django_db_blocker.unblock():
        head = store.head_position()
        for name in ("orders.backorders", "orders.shipments", "webhooks"):
            Subscription.objects.update_or_create(name=name, defaults={"checkpoint": head})
        call_command(
            "seed_demo",
            "--prefix",
            prefix,
            "--skus",
            "40",
            "--days",
            "12",
            "--orders-per-day",
            "5",
            stdout=io.StringIO(),
        )
        server = LiveServer("localhost")
        server._live_server_modified_settings.enable()
        try:
            yield {"prefix": prefix, "url": server.url}
        finally:
            server._live_server_modified_settings.disable()
            server.stop()


@pytest.fixture
def page(chromium, demo, committed_db, request):
    """A fresh browser context per test; a screenshot of where it ended is kept when it fails."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, base_url=demo["url"])
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shot(tab, f"FAILED-{request.node.name}")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def shot(tab, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


def log_in(tab, username: str, password: str) -> None:
    tab.goto("/accounts/login/")
    tab.fill("#id_username", username)
    tab.fill("#id_password", password)
    tab.click("button[type=submit]")
    tab.wait_for_selector('[data-testid="who"]')
