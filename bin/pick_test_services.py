"""Print `export` lines choosing the database, Redis and NATS for the test run.

DATABASE_URL wins when set; otherwise the local PostgreSQL on 127.0.0.1:5432 when it answers;
otherwise SQLite (PostgreSQL-only tests are then skipped). Redis likewise, for the tests that need
a real broker, and NATS with JetStream (TEST_NATS_URL) for the event bus tests. With CI=true all
three are required and a missing one is an error.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/scm"
LOCAL_REDIS = "redis://127.0.0.1:6379/15"
LOCAL_NATS = "nats://127.0.0.1:4222"


def postgres_answers() -> bool:
    try:
        import psycopg2

        psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3).close()
    except Exception:  # noqa: BLE001 - any failure means "not available"
        return False
    return True


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def nats_answers() -> bool:
    """A NATS server greets every new connection with an INFO line."""
    try:
        with socket.create_connection(("127.0.0.1", 4222), timeout=2) as sock:
            sock.settimeout(2)
            return sock.recv(16).startswith(b"INFO")
    except OSError:
        return False


def main() -> int:
    in_ci = os.environ.get("CI", "").lower() == "true"
    exports: dict[str, str] = {}
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url and postgres_answers():
        database_url = LOCAL_POSTGRES
    if database_url:
        exports["DATABASE_URL"] = database_url
    elif in_ci:
        print("CI=true but PostgreSQL is not reachable on 127.0.0.1:5432", file=sys.stderr)
        return 1
    else:
        print("note: PostgreSQL not reachable, testing on SQLite; PostgreSQL-only tests will be skipped",
              file=sys.stderr)

    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL", "")
    if not redis_url and redis_answers():
        redis_url = LOCAL_REDIS
    if redis_url:
        exports["TEST_REDIS_URL"] = redis_url
    elif in_ci:
        print("CI=true but Redis is not reachable on 127.0.0.1:6379", file=sys.stderr)
        return 1
    else:
        print("note: Redis not reachable; tests that need a real broker will be skipped", file=sys.stderr)

    nats_url = os.environ.get("TEST_NATS_URL", "")
    if not nats_url and nats_answers():
        nats_url = LOCAL_NATS
    if nats_url:
        exports["TEST_NATS_URL"] = nats_url
    elif in_ci:
        print("CI=true but NATS is not reachable on 127.0.0.1:4222", file=sys.stderr)
        return 1
    else:
        print("note: NATS not reachable; event bus tests will be skipped", file=sys.stderr)

    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
