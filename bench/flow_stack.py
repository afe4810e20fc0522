"""The production shape on one machine, for the flow benchmark and the end-to-end tests.

gunicorn (`scm.wsgi`, the project's gunicorn config), one Celery worker process per group of
`scm.queues.WORKER_GROUPS` (each with its own prefork pool and log file), and beat on its own, all
on one PostgreSQL database and one Redis. Every process runs in its own process group, so stopping
(or killing) one reaches its pool children too, and nothing outlives `stop()`.

    with FlowStack(database_url=..., redis_url=..., log_dir=Path(...)) as stack:
        stack.base_url            # http://127.0.0.1:<port>
        stack.kill_worker("worker-workflow"); stack.start_worker("worker-workflow")

Each worker also consumes Celery's default queue ("celery"): a task without a route is never
stranded, and the stack stays valid whether or not settings route every task to its own queue.
`RedisServer` starts a private redis-server (no persistence) on a free port, for runs that restart
the broker; never restart a Redis that anything else uses.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_QUEUE = "celery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_groups() -> dict[str, tuple[str, ...]]:
    """The worker processes of the production shape and the queues each serves (scm/queues.py)."""
    sys.path.insert(0, str(ROOT))
    from scm.queues import WORKER_GROUPS

    return dict(WORKER_GROUPS)


def _stop_group(process: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    """Signal the process group and wait; SIGKILL whatever is still there after `wait` seconds."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    if sig != signal.SIGKILL:
        try:  # pool children the parent left behind
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait_for(condition, *, seconds: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"timed out after {seconds:.0f}s waiting for {what}\n{tail}")


class RedisServer:
    """A private redis-server on loopback without persistence: a restart loses everything queued,
    which is the harder case for the system (the sweeper and beat must recover the lost work)."""

    def __init__(self, log_dir: Path, port: int | None = None) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (Debian package redis-server)")
        self.port = port or free_port()
        self.log = log_dir / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(self._answers, seconds=20, what=f"redis-server on port {self.port}", log=self.log)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        _stop_group(self.process, signal.SIGKILL)  # a crash, not a shutdown: nothing is saved

    def restart(self, down_seconds: float = 1.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


class FlowStack:
    """gunicorn + one Celery worker per WORKER_GROUPS group + beat, started and stopped together."""

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        log_dir: Path,
        web_workers: int = 3,
        concurrency: dict[str, int] | None = None,
        beat: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.web_workers = web_workers
        self.groups = worker_groups()
        self.concurrency = {group: 2 for group in self.groups} | (concurrency or {})
        self.beat = beat
        self.extra_env = env or {}
        self.port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self.starts: dict[str, int] = {}
        log_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.kill_all)  # nothing outlives the process that started it, even when interrupted

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """What every process of the stack sees: production settings on this database and broker."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PROMETHEUS_", "PYTEST_"))}
        env.update(
            DEBUG="0",
            SECRET_KEY=self.extra_env.get("SECRET_KEY") or secrets.token_urlsafe(40),
            DATABASE_URL=self.database_url,
            DATABASE_CONN_MAX_AGE="60",
            REDIS_URL=self.redis_url,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="0",
            OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",  # the loopback receivers of the benchmark and tests
            API_THROTTLE_INTEGRATION="off",
            LOG_FORMAT="json",
            LOG_LEVEL="INFO",
            ORDER_WORKFLOW_AUTORUN="1",
            EVENT_DISPATCH_ON_COMMIT="1",
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen:
        self.starts[name] = self.starts.get(name, 0) + 1
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as output:
            output.write(f"\n===== start {self.starts[name]} of {name}: {' '.join(command)}\n".encode())
            output.flush()
            process = subprocess.Popen(
                command, cwd=ROOT, env=self.environment(), stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.processes[name] = process
        return process

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start_web(self) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "-c", "scm/observability/gunicorn_conf.py",
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.web_workers), "--no-control-socket", "scm.wsgi",
        ]  # fmt: skip
        self._spawn("web", command)

    def start_worker(self, group: str, *, wait: bool = True) -> subprocess.Popen:
        queues = ",".join([*self.groups[group], DEFAULT_QUEUE])
        command = [
            sys.executable, "-m", "celery", "-A", "scm", "worker", "--loglevel=INFO",
            "--pool=prefork", f"--concurrency={self.concurrency[group]}", "-Q", queues,
            f"--hostname={group}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        before = self._log_size(group)
        process = self._spawn(group, command)
        if wait:
            log = self.log(group)
            _wait_for(
                lambda: b" ready." in log.read_bytes()[before:] or process.poll() is not None,
                seconds=90, what=f"{group} to start", log=log,
            )  # fmt: skip
            if process.poll() is not None:
                raise RuntimeError(f"{group} exited with {process.returncode}; see {log}")
        return process

    def start_beat(self) -> None:
        schedule = self.log_dir / "beat-schedule"
        self._spawn(
            "beat", [sys.executable, "-m", "celery", "-A", "scm", "beat", "--loglevel=INFO", f"--schedule={schedule}"]
        )

    def _log_size(self, name: str) -> int:
        log = self.log(name)
        return log.stat().st_size if log.exists() else 0

    def start(self) -> FlowStack:
        self.start_web()
        for group in self.groups:
            self.start_worker(group, wait=False)
        if self.beat:
            self.start_beat()
        self.wait_ready()
        return self

    def wait_ready(self, seconds: float = 120) -> None:
        import urllib.request

        def web_answers() -> bool:
            if self.processes["web"].poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log('web')}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        _wait_for(web_answers, seconds=seconds, what="gunicorn /healthz", log=self.log("web"))
        for group in self.groups:
            log = self.log(group)
            _wait_for(lambda log=log: b" ready." in log.read_bytes(), seconds=seconds, what=f"{group}", log=log)

    def kill_worker(self, group: str, sig: int = signal.SIGKILL) -> None:
        """Kill a worker and its pool at once (SIGKILL: no warm shutdown, tasks in flight are lost)."""
        _stop_group(self.processes.get(group), sig)

    def stop(self, grace: float = 15) -> None:
        """SIGTERM every process group at once (beat, workers, gunicorn), wait up to `grace` seconds
        in all, then SIGKILL whatever is left: a bounded stop, so a test's time limit is never spent here."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        self.kill_all()

    def kill_all(self) -> None:
        """SIGKILL every process group of the stack (pool children included); safe to call twice."""
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def pids(self) -> dict[str, list[int]]:
        """Every live process of the stack by name (the parent and its children), for CPU accounting."""
        found: dict[str, list[int]] = {}
        for name, process in self.processes.items():
            if process.poll() is not None:
                continue
            found[name] = [
                int(entry.name)
                for entry in Path("/proc").iterdir()
                if entry.name.isdigit() and _process_group(int(entry.name)) == process.pid
            ]
        return found

    def __enter__(self) -> FlowStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def _process_group(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[2])  # after state and ppid: pgrp
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0
