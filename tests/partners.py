"""Broken partners on loopback, for tests of time budgets and breakers: one that refuses connections,
one that accepts and never answers, one that trickles its answer a byte at a time.

Each binds 127.0.0.1 on a free port, serves from daemon threads, and stops when its `with` block
ends (closing every connection it still holds).
"""

from __future__ import annotations

import socket
import threading
import time


def refused_url() -> str:
    """A URL on a loopback port nothing listens on (bound, then closed): connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class _Server:
    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.stopped = threading.Event()
        self.connections: list[socket.socket] = []
        self.accepted = 0
        self._lock = threading.Lock()

    def __enter__(self):
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self._listener.close()
        with self._lock:
            for conn in self.connections:
                conn.close()

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections.append(conn)
                self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


class HangingServer(_Server):
    """Accepts connections, reads the request, and never answers."""

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
        except OSError:
            return
        self.stopped.wait()


class TricklingServer(_Server):
    """Answers 200 with a long body, one byte every `interval` seconds (the status line and
    headers too when `trickle_headers`), so no single read ever waits long enough to time out."""

    def __init__(self, *, interval: float = 0.2, body_length: int = 1000, trickle_headers: bool = False) -> None:
        super().__init__()
        self.interval = interval
        self.body_length = body_length
        self.trickle_headers = trickle_headers
        self.bytes_sent = 0

    def _serve(self, conn: socket.socket) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {self.body_length}\r\n\r\n".encode()
        try:
            conn.recv(65536)
            if not self.trickle_headers:
                conn.sendall(head)
                head = b""
            for byte in head + b"x" * self.body_length:
                if self.stopped.wait(self.interval):
                    return
                conn.sendall(bytes([byte]))
                self.bytes_sent += 1
        except OSError:
            return  # the client hung up: that is what the deadline is for


def elapsed(since: float) -> float:
    return time.monotonic() - since
