"""The HTTP transport under `scm.outbound.request`: requests, with connections that obey the policy
and an attempt that cannot outlive its budget.

- Every connection is opened by `_GuardedConnection._new_conn`: it resolves the host itself (within
  the connect budget), judges every address with `policy.judge_address`, and connects only to an
  address that passed. The socket is connected to the very address that was judged, so there is no
  second lookup that DNS rebinding could answer differently. TLS still verifies the certificate
  against the host name in the URL (urllib3 wraps the socket we return with `server_hostname`).
- A total deadline per attempt: requests' read timeout only bounds the wait for each chunk, so a
  partner trickling one byte a second would hold the worker forever. A timer shuts the attempt's
  socket down when the deadline passes; the blocked read returns at once and the attempt fails
  with `DeadlineExceeded`.
- Sessions ignore proxy variables from the environment (a proxy would be the address we judge).
"""

from __future__ import annotations

import socket
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from scm.outbound import policy
from scm.outbound.exceptions import AddressRefused, CallFailed, DeadlineExceeded, ResponseTooLarge

_CHUNK = 65536


@dataclass(frozen=True)
class Budget:
    """Time and size allowed for one attempt: `connect` bounds name resolution plus the TCP
    connect, `total` the whole attempt from the first byte sent to the last byte read, and
    `max_bytes` the answer's body."""

    connect: float = 3.0
    total: float = 10.0
    max_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.total <= 0 or self.max_bytes <= 0:
            raise ValueError(f"a budget needs positive limits, got {self}")


class Attempt:
    """One call's clock, and the sockets to shut when it runs out."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.started = time.monotonic()
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(budget.total, self._expire)
        self._timer.daemon = True

    def remaining(self) -> float:
        return self.budget.total - (time.monotonic() - self.started)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def __enter__(self) -> Attempt:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def adopt(self, sock: socket.socket) -> None:
        """Watch `sock`: when the deadline passes it is shut down, whatever reads from it.

        A duplicate descriptor is kept because TLS wrapping detaches the original socket object;
        shutdown(2) acts on the connection, so shutting the duplicate ends the reads on either.
        """
        with self._lock:
            if self.expired:
                sock.close()
                raise self.deadline_error()
            self._sockets.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the peer or by us: nothing left to interrupt

    def deadline_error(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no complete answer within the {self.budget.total:g}s budget of the attempt",
            budget_seconds=self.budget.total,
        )


_attempt: ContextVar[Attempt | None] = ContextVar("outbound_attempt", default=None)


def _open_socket(conn: HTTPConnection) -> socket.socket:
    attempt = _attempt.get()
    if attempt is None:
        raise RuntimeError("outbound connections are opened only inside scm.outbound.request()")
    host, port = conn._dns_host.strip("[]"), conn.port
    connect_budget = min(attempt.budget.connect, attempt.remaining())
    if connect_budget <= 0:
        raise attempt.deadline_error()
    candidates = policy.resolve(host, port, timeout=connect_budget)
    allowed, refusal = [], None
    for address in candidates:
        try:
            policy.judge_address(address, port, host=conn.host)
            allowed.append(address)
        except AddressRefused as exc:
            refusal = refusal or exc
    if not allowed:
        raise refusal or CallFailed(f"{host} resolves to no address", host=host)
    failure: CallFailed | None = None
    for address in allowed:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(max(min(attempt.budget.connect, attempt.remaining()), 0.001))
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.connect((str(address), port))
        except TimeoutError:
            sock.close()
            failure = CallFailed(f"connecting to {host}:{port} timed out after {connect_budget:g}s", host=host)
            continue
        except OSError as exc:
            sock.close()
            failure = CallFailed(f"cannot connect to {host}:{port}: {exc.strerror or exc}", host=host)
            continue
        sock.settimeout(conn.timeout if isinstance(conn.timeout, int | float) else None)
        attempt.adopt(sock)
        return sock
    raise failure or CallFailed(f"cannot connect to {host}:{port}", host=host)


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _open_socket(self)


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _open_socket(self)


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools open connections through the policy. No retries of its own."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def send(method: str, url: str, *, budget: Budget, **kwargs) -> requests.Response:
    """One HTTP attempt within `budget`; the returned response's body is read (at most max_bytes).

    Raises AddressRefused, CallFailed, DeadlineExceeded or ResponseTooLarge; never follows redirects.
    """
    headers = {"Accept-Encoding": "identity", **(kwargs.pop("headers", None) or {})}
    with Attempt(budget) as attempt, new_session() as session:
        token = _attempt.set(attempt)
        try:
            response = session.request(
                method,
                url,
                headers=headers,
                # The deadline timer is what ends a slow attempt; the read timeout is only a backstop.
                timeout=(budget.connect, budget.total + 1),
                allow_redirects=False,
                stream=True,
                proxies={},
                **kwargs,
            )
            with response:
                body = _read_capped(response, budget.max_bytes)
        except requests.RequestException as exc:
            if attempt.expired or attempt.remaining() <= 0:
                raise attempt.deadline_error() from None
            raise _call_failed(exc, attempt) from None
        finally:
            _attempt.reset(token)
        if attempt.expired:
            raise attempt.deadline_error()
    response._content = body
    response._content_consumed = True
    return response


def _read_capped(response: requests.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge(
                f"the answer is larger than the {limit}-byte limit (HTTP {response.status_code})",
                status_code=response.status_code,
                limit=limit,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _call_failed(exc: requests.RequestException, attempt: Attempt) -> CallFailed:
    if isinstance(exc, requests.Timeout):
        return CallFailed(f"no answer within the {attempt.budget.total:g}s read timeout", error=type(exc).__name__)
    cause = exc.__context__ or exc
    return CallFailed(f"the call broke off: {type(cause).__name__}: {cause}"[:500], error=type(exc).__name__)
