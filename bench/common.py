"""Shared plumbing for the benchmarks: a fresh PostgreSQL database, Django set up on it, pgbench,
and writing a figures section into docs/PERFORMANCE.md."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
PERFORMANCE_DOC = ROOT / "docs" / "PERFORMANCE.md"
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def fresh_database(name: str) -> str:
    """Drop and create database `name` on the server of BENCH_ADMIN_URL; return its URL."""
    import psycopg2

    admin_url = os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL)
    connection = psycopg2.connect(admin_url)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    parsed = urlparse(admin_url)
    return parsed._replace(path=f"/{name}").geturl()


def setup_django(database_url: str, **env: str) -> None:
    """Point Django at `database_url` (production-like: DEBUG off) and migrate it."""
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scm.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["EVENT_DISPATCH_ON_COMMIT"] = "0"
    # The benchmarks speak plain HTTP to their own server or test client (production redirects to HTTPS).
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.pop("REDIS_URL", None)
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def pgbench(database_url: str, script: str, *, clients: int, seconds: int) -> float:
    """Run a custom pgbench script; return transactions per second (excluding connection time)."""
    parsed = urlparse(database_url)
    script_path = Path("/tmp") / f"scm-bench-{os.getpid()}.sql"
    script_path.write_text(script)
    command = [
        "pgbench",
        "-n",
        "-f",
        str(script_path),
        "-c",
        str(clients),
        "-j",
        str(min(clients, os.cpu_count() or 1)),
        "-T",
        str(seconds),
        "-h",
        parsed.hostname or "127.0.0.1",
        "-p",
        str(parsed.port or 5432),
        "-U",
        parsed.username or "postgres",
        parsed.path.lstrip("/"),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    if not match:
        raise RuntimeError(f"could not read tps from pgbench output:\n{output}")
    return float(match.group(1))


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}){memory}, {system}, Python {platform.python_version()}"


def write_section(name: str, markdown: str, *, first: bool = False) -> None:
    """Replace (or add) the section between `<!-- bench:name -->` markers in docs/PERFORMANCE.md;
    a new section goes at the end, or right under the title with `first`."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"{start}\n_Measured {stamp} on {machine_line()}._\n\n{markdown.strip()}\n{end}"
    text = PERFORMANCE_DOC.read_text() if PERFORMANCE_DOC.exists() else "# Performance record\n"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    elif first and "\n" in text:
        title, rest = text.split("\n", 1)
        text = f"{title}\n\n{block}\n{rest}"
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    PERFORMANCE_DOC.parent.mkdir(parents=True, exist_ok=True)
    PERFORMANCE_DOC.write_text(text)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def report(
    benchmark: str, measure: str, value: float, unit: str, ceiling: float | None = None, ceiling_name: str = ""
) -> None:
    """Print one machine-readable result line; bench/run_all.py collects them into the summary table."""
    import json

    record = {"benchmark": benchmark, "measure": measure, "value": round(value, 2), "unit": unit}
    if ceiling:
        record.update(ceiling=round(ceiling, 2), ceiling_name=ceiling_name, ratio=round(value / ceiling, 3))
    print("BENCH-RESULT " + json.dumps(record), flush=True)
