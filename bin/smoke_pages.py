"""Check a running server the way a newcomer first sees it: wait until it answers, log in as the demo
planner, and require 200 from every dashboard page (lists, and one detail page of each kind, found
through the lists' own links). Exits non-zero naming what failed. Used by bin/smoke."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import requests

LISTS = ("/", "/inventory/", "/orders/", "/shipments/", "/supplier-exceptions/", "/replenishment/", "/webhooks/dead/")
#: Detail pages, found as the first link of this shape on the list page.
DETAILS = (
    ("/inventory/", r'href="(/inventory/[^/"?]+/)[?"]'),
    ("/orders/", r'href="(/orders/\d+/)"'),
    ("/shipments/", r'href="(/shipments/\d+/)"'),
    ("/supplier-exceptions/", r'href="(/supplier-exceptions/messages/\d+/)"'),
)


def wait_until_up(base: str, deadline: float, log: Path | None) -> None:
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    sys.exit(f"the server never answered /healthz before the deadline\n{tail}")


def log_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    form = session.get(f"{base}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    if form.status_code != 200 or token is None:
        sys.exit(f"login page: HTTP {form.status_code}")
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    if answer.status_code != 302:
        sys.exit(f"logging in as {username}: HTTP {answer.status_code} (demo users missing?)")
    return session


def check_pages(base: str, session: requests.Session) -> list[str]:
    failures, bodies = [], {}
    for path in LISTS:
        response = session.get(f"{base}{path}", timeout=60, allow_redirects=False)
        bodies[path] = response.text
        print(f"  {response.status_code} {path}")
        if response.status_code != 200:
            failures.append(f"{path}: HTTP {response.status_code}")
    for list_path, pattern in DETAILS:
        found = re.search(pattern, bodies.get(list_path, ""))
        if found is None:
            failures.append(f"{list_path} links to no detail page (the demo data should have one)")
            continue
        response = session.get(f"{base}{found.group(1)}", timeout=60, allow_redirects=False)
        print(f"  {response.status_code} {found.group(1)}")
        if response.status_code != 200:
            failures.append(f"{found.group(1)}: HTTP {response.status_code}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="e.g. http://127.0.0.1:8123")
    parser.add_argument("--deadline", type=float, default=600, help="seconds to wait for the server")
    parser.add_argument("--log", type=Path, help="the server's log, shown when it never comes up")
    args = parser.parse_args()
    wait_until_up(args.base, time.monotonic() + args.deadline, args.log)
    failures = check_pages(args.base, log_in(args.base, "planner", "planner"))
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
