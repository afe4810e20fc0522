"""Run every benchmark and write docs/PERFORMANCE.md: each benchmark's own section plus a summary
table of every figure beside its ceiling measured in the same run.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...]

The summary keeps each benchmark's latest figures in bench/results.json, so `--only NAME` reruns
one benchmark and the table still lists the others (each row says when it was measured; its ceiling
always comes from the same run as its figure).

Needs PostgreSQL on 127.0.0.1:5432 (or BENCH_ADMIN_URL), for the relay benchmark a nats-server
with JetStream on 127.0.0.1:4222 (or BENCH_NATS_URL), and for the flow benchmark redis-server on the
PATH (it starts a private one on a free port). Each benchmark runs in its own process
and prints its progress; a failed benchmark is reported and the others still run. Interrupting
and rerunning is safe: each benchmark recreates its own database.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import common

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"

# name -> (script, full arguments, quick arguments)
BENCHMARKS = {
    "reservations": ("bench_reservations.py", ["--seconds", "10"], ["--seconds", "3"]),
    "replay": ("bench_replay.py", ["--rows", "1000000"], ["--rows", "100000", "--no-write"]),
    "ingest_856": ("bench_ingest_856.py", [], ["--quick"]),
    "api": ("bench_api.py", [], ["--quick"]),
    "dashboard": ("bench_dashboard.py", [], ["--quick"]),
    "relay": ("bench_relay.py", ["--events", "200000"], ["--events", "5000", "--no-write"]),
    "flow": ("bench_flow.py", [], ["--quick"]),
}


def run(name: str, quick: bool) -> tuple[list[dict], str]:
    script, full, fast = BENCHMARKS[name]
    path = HERE / script
    if not path.exists():
        return [], f"{script} is missing"
    common.progress(f"=== {name}: {script} {' '.join(fast if quick else full)}")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(path), *(fast if quick else full)],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    results = []
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("BENCH-RESULT "):
            results.append(json.loads(line.removeprefix("BENCH-RESULT ")))
        sys.stdout.write(line)
        sys.stdout.flush()
    status = process.wait()
    common.progress(f"=== {name} finished in {time.monotonic() - started:.0f}s (exit {status})")
    return results, "" if status == 0 else f"exited with {status}"


def remember(name: str, results: list[dict]) -> dict[str, list[dict]]:
    """Store `name`'s results of this run (stamped) beside the latest of every other benchmark."""
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    stored[name] = [{**result, "measured": stamp} for result in results]
    RESULTS.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    return stored


def summary(stored: dict[str, list[dict]], problems: dict[str, str], command: str) -> str:
    rows = []
    for name in [n for n in BENCHMARKS if n in stored]:
        for r in stored[name]:
            ceiling = f"{r['ceiling']:,.0f} {r['ceiling_name']}" if r.get("ceiling") else "—"
            ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "—"
            rows.append(
                f"| {r['benchmark']} | {r['measure']} | {r['value']:,.1f} {r['unit']} | {ceiling} | {ratio} "
                f"| {r.get('measured', '')} |"
            )
    notes = "\n".join(f"- {name}: {problem}" for name, problem in problems.items())
    return (
        "## Summary (every figure beside its ceiling from the same run)\n\n"
        "| benchmark | measure | result | ceiling | ratio | measured (UTC) |\n|---|---|---:|---:|---:|---|\n"
        + "\n".join(rows)
        + (f"\n\nNot measured in the last run:\n{notes}" if notes else "")
        + f"\n\nProduced by `{command}` (rows of benchmarks not rerun keep their last figures); the sections "
        "below hold each benchmark's details."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs to check the benchmarks work")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS))
    args = parser.parse_args()
    stored: dict[str, list[dict]] = {}
    problems: dict[str, str] = {}
    for name in args.only or BENCHMARKS:
        found, problem = run(name, args.quick)
        if problem:
            problems[name] = problem
        if args.quick:
            stored[name] = found
        elif found:
            stored = remember(name, found)
    command = "python bench/run_all.py" + (" --quick" if args.quick else "")
    if not args.quick:
        stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else stored
        common.write_section("summary", summary(stored, problems, command), first=True)
    print(summary(stored, problems, command))
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
