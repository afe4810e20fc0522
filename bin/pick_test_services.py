"""Print `export` lines choosing the database, Redis and NATS for the test run.

DATABASE_URL wins when set; otherwise the local PostgreSQL on 127.0.0.1:5432 when it answers;
otherwise SQLite (PostgreSQL-only tests are then skipped). Redis likewise, for the tests that need
a real broker, and NATS with JetStream (TEST_NATS_URL) for the event bus tests. With CI=true all
three are required and a missing one is an error.

TEST_ON_SQLITE=1 chooses SQLite deliberately, whatever answers: the embedded default `bin/run` uses,
which CI tests too (its second run). Redis and NATS are still picked as above.
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


def database_lines(in_ci: bool) -> list[str] | None:
    """The shell lines that choose the database; None when CI needs PostgreSQL and it is not there."""
    if os.environ.get("TEST_ON_SQLITE") == "1":
        print("note: TEST_ON_SQLITE=1, testing on SQLite; PostgreSQL-only tests will be skipped", file=sys.stderr)
        return ["unset DATABASE_URL"]
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url and postgres_answers():
        database_url = LOCAL_POSTGRES
    if database_url:
        return [f"export DATABASE_URL={shlex.quote(database_url)}"]
    if in_ci:
        print("CI=true but PostgreSQL is not reachable on 127.0.0.1:5432", file=sys.stderr)
        return None
    print("note: PostgreSQL not reachable, testing on SQLite; PostgreSQL-only tests will be skipped", file=sys.stderr)
    return []


def redis_lines(in_ci: bool) -> list[str] | None:
    """The shell lines that choose the test broker; None when CI needs Redis and it is not there."""
    redis_url = os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL", "")
    if not redis_url and redis_answers():
        redis_url = LOCAL_REDIS
    if redis_url:
        return [f"export TEST_REDIS_URL={shlex.quote(redis_url)}"]
    if in_ci:
        print("CI=true but Redis is not reachable on 127.0.0.1:6379", file=sys.stderr)
        return None
    print("note: Redis not reachable; tests that need a real broker will be skipped", file=sys.stderr)
    return []

def nats_lines(in_ci: bool) -> list[str] | None:
    """The shell lines that choose the test NATS server; None when CI needs it and it is not there."""
    nats_url = os.environ.get("TEST_NATS_URL", "")
    if not nats_url and nats_answers():
        nats_url = LOCAL_NATS
    if nats_url:
        return [f"export TEST_NATS_URL={shlex.quote(nats_url)}"]
    if in_ci:
        print("CI=true but NATS is not reachable on 127.0.0.1:4222", file=sys.stderr)
        return None
    print("note: NATS not reachable; event bus tests will be skipped", file=sys.stderr)
    return []


def main() -> int:
    in_ci = os.environ.get("CI", "").lower() == "true"
    database, redis, nats = database_lines(in_ci), redis_lines(in_ci), nats_lines(in_ci)
    if database is None or redis is None or nats is None:
        return 1
    for line in database + redis + nats:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
