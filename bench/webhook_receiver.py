"""A webhook receiver on loopback for the flow benchmark and the worker tests: it answers 200 and
records each delivery, or, while `hanging` is set, holds every request open without answering."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, port: int = 0, *, hanging: bool = False) -> None:
        # Imported here: bench scripts put the project on sys.path only when they set Django up.
        from scm.webhooks.signing import EVENT_ID_HEADER

        self.deliveries: list[tuple[str, dict]] = []  # (event id header, parsed body), in arrival order
        self.hanging = threading.Event()
        if hanging:
            self.hanging.set()
        self.stopped = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.hanging.is_set():
                    # Held until the receiver comes back, then dropped unanswered: the sender gave up
                    # at its deadline long ago, so this request is not a delivery (and recording it
                    # late would look like an out-of-order one).
                    while receiver.hanging.is_set() and not receiver.stopped.wait(0.05):
                        pass
                    return
                receiver.deliveries.append((self.headers.get(EVENT_ID_HEADER, ""), body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def event_ids(self) -> set[str]:
        return {event_id for event_id, _ in self.deliveries}

    def close(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()
