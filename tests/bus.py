"""Test plumbing for the event bus: relay subprocesses, private nats-servers, reading a stream back."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nats
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


@dataclass(frozen=True)
class BusNames:
    """Unique names so tests share one nats-server (and one database) without meeting."""

    stream: str
    prefix: str
    relay: str

    @classmethod
    def for_test(cls, unique: str) -> BusNames:
        return cls(stream=f"T_{unique.upper()}", prefix=f"t{unique}.events", relay=f"test-{unique}")


def in_own_thread(function, *args, **kwargs):
    """Call `function` in a fresh thread and return its result.

    For asyncio.run (also inside management commands): earlier tests of a session can leave an event
    loop running in the main thread (Playwright's sync API does), where asyncio.run refuses to start.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def run_async(coroutine):
    return in_own_thread(asyncio.run, coroutine)


def poll(condition, *, seconds: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def relay_env(names: BusNames, nats_url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "bus-test",
        "NATS_URL": nats_url,
        "NATS_STREAM": names.stream,
        "NATS_SUBJECT_PREFIX": names.prefix,
        "NATS_STREAM_MAX_AGE_HOURS": "2",  # a test stream left behind on the shared server expires
        "EVENT_RELAY_NAME": names.relay,
        "EVENT_RELAY_POLL_SECONDS": "0.05",
        "EVENT_RELAY_ACK_TIMEOUT_SECONDS": "2",
        "EVENT_RELAY_BACKOFF_BASE_SECONDS": "0.2",
        "EVENT_RELAY_BACKOFF_CAP_SECONDS": "1",
        "LOG_FORMAT": "json",
        "EVENT_DISPATCH_ON_COMMIT": "0",
    }
    env.pop("REDIS_URL", None)
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.update(extra)
    return env


def start_relay(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_event_relay"],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, *, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateNats:
    """A nats-server with JetStream of this test's own, on a free port, that the test may stop."""

    def __init__(self, store_dir: Path) -> None:
        self.port = free_port()
        self.store_dir = store_dir
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store_dir)],
            stdout=subprocess.DEVNULL,
            stderr=(self.store_dir.parent / f"nats-{self.port}.log").open("a"),
            start_new_session=True,
        )
        poll(self._answers, seconds=15, what=f"nats-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return sock.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def stop(self) -> None:
        stop(self.process)
        self.process = None


@dataclass(frozen=True)
class Received:
    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


async def _read_stream(url: str, stream: str, *, expect: int, seconds: float) -> list[Received]:
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        js = client.jetstream()
        info = await js.stream_info(stream)
        subscription = await js.pull_subscribe(info.config.subjects[0], durable=None, stream=stream)
        received: list[Received] = []
        deadline = time.monotonic() + seconds
        while len(received) < expect and time.monotonic() < deadline:
            try:
                batch = await subscription.fetch(batch=1000, timeout=1)
            except TimeoutError:  # asyncio's, or nats-py's subclass of it
                continue
            for message in batch:
                received.append(
                    Received(message.metadata.sequence.stream, message.subject, message.headers or {}, message.data)
                )
                await message.ack()
        return received
    finally:
        await client.close()


def read_stream(url: str, stream: str, *, expect: int, seconds: float = 30) -> list[Received]:
    """Every message of `stream` in stream order (waits up to `seconds` for at least `expect`)."""
    return run_async(_read_stream(url, stream, expect=expect, seconds=seconds))


async def _stream_state(url: str, stream: str):
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        return (await client.jetstream().stream_info(stream)).state
    finally:
        await client.close()


def stream_state(url: str, stream: str):
    return run_async(_stream_state(url, stream))


async def _delete_stream(url: str, stream: str) -> None:
    client = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=1)
    try:
        await client.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await client.close()


def delete_stream(url: str, stream: str) -> None:
    run_async(_delete_stream(url, stream))
