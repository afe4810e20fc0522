"""The outbox run by the real thing: a Celery worker with beat on Redis, and a partner on loopback that
first hangs, then answers 503, then is fixed. The worker's tries are cut at their budget, the entry
dead-letters, ops resend it, and the worker delivers it — no test code calls the send.

Every wait is derived from the settings the worker runs with (budgets, backoffs, the sweep interval),
times a slack for a loaded machine, and starts only once the worker is ready; the partner's hang is an
event released at the end, so a try that the budget did not cut would show in its duration. Beat's
other schedules are pushed out of the test's reach, so the solo worker spends its time on the outbox
(not on catching up the shared database's event log)."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection

from partners import services as outbox
from partners.connections import partner_connection_save
from partners.models import OUT, AttemptOutcome, OutboxEntry
from tests.integration.test_workflow_worker_crash import poll, start_worker, stop
from tests.partner_trade import TEST_SECRETS_KEY, event_types, make_trade, send_order

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(300)]

CONNECT, TOTAL = 2.0, 2.0  # the budget of one try
ATTEMPTS, BACKOFF_BASE, BACKOFF_CAP = 3, 1.0, 2.0
SWEEP = 1.0  # the beat sweep that starts due tries
SLACK = 3.0  # two shared cores: everything may take this many times longer than it should
WORKER_START_SECONDS = 120  # not what is measured: importing Django and Celery on a loaded machine

WORKER_SETTINGS = {
    "PARTNER_CONNECT_TIMEOUT_SECONDS": str(CONNECT),
    "PARTNER_TIMEOUT_SECONDS": str(TOTAL),
    "PARTNER_MAX_ATTEMPTS": str(ATTEMPTS),
    "PARTNER_BACKOFF_BASE_SECONDS": str(BACKOFF_BASE),
    "PARTNER_BACKOFF_CAP_SECONDS": str(BACKOFF_CAP),
    "PARTNER_BREAKER_THRESHOLD": "10",  # this test is about retries and dead letters, not the circuit
    "PARTNER_OUTBOX_SWEEP_SECONDS": str(SWEEP),
    "PARTNER_OUTBOX_AUTORUN": "0",
    "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8",
    "EVENT_DISPATCH_ON_COMMIT": "0",
    "ORDER_WORKFLOW_AUTORUN": "0",
    **{name: "3600" for name in (
        "SUBSCRIPTION_POLL_SECONDS", "WEBHOOK_POLL_SECONDS", "WORKFLOW_SWEEP_SECONDS", "SUPPLIER_POLL_TICK_SECONDS"
    )},
}


def one_try_seconds() -> float:
    """Noticed by the next sweep tick, then at most one budget."""
    return SWEEP + CONNECT + TOTAL


def dead_letter_seconds() -> float:
    backoffs = sum(min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (n - 1)) for n in range(1, ATTEMPTS))
    return SLACK * (ATTEMPTS * one_try_seconds() + backoffs)


class FlakyPartner:
    """Hangs on the first call (until closed), answers 503 while `down`, 200 after."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.down = True
        self.closed = threading.Event()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                partner.calls.append(body)
                if len(partner.calls) == 1:
                    partner.closed.wait()  # the worker's budget must end the try, not this partner
                status = 503 if partner.down else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"no" if partner.down else b"ok")
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/edi"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "SECRET_KEY": "partners-worker-test",
        "PARTNER_SECRETS_KEY": TEST_SECRETS_KEY,
        **WORKER_SETTINGS,
    }


def test_a_worker_retries_a_down_partner_within_budget_dead_letters_and_delivers_after_resend(
    committed_db, unique, tmp_path, settings
):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False  # nothing is sent from this process: only the worker sends
    partner = FlakyPartner()
    trade = make_trade(unique)
    partner_connection_save(supplier=trade.supplier.code, protocol="https", https_url=partner.url)
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(), log, "--beat", f"--schedule={tmp_path / 'beat-schedule'}")

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:]

    try:
        poll(lambda: worker.poll() is None and "ready." in log.read_text(errors="replace"),
             seconds=WORKER_START_SECONDS, what=f"the worker to be ready\n{tail()}")
        entry = send_order(trade)  # queued now: the clock starts with a ready worker
        started = time.monotonic()
        poll(lambda: OutboxEntry.objects.get(pk=entry.pk).status == OUT.DEAD,
             seconds=dead_letter_seconds(), what=f"the entry to dead-letter\n{tail()}")
        dead_after = time.monotonic() - started

        attempts = list(OutboxEntry.objects.get(pk=entry.pk).delivery_attempts.order_by("number"))
        assert [a.outcome for a in attempts] == [AttemptOutcome.RETRY] * (ATTEMPTS - 1) + [AttemptOutcome.DEAD]
        assert attempts[0].error.endswith(f"no complete answer within the {TOTAL:g}s budget of the attempt")
        first_try = (attempts[0].finished_at - attempts[0].started_at).total_seconds()
        assert TOTAL <= first_try < SLACK * (CONNECT + TOTAL), "the hanging call was cut at its budget"
        assert all(a.error.startswith(f"HTTP 503 from {partner.url}") for a in attempts[1:])
        assert len(partner.calls) == ATTEMPTS

        partner.down = False
        outbox.outbox_entry_resend(entry_id=entry.pk, actor="ops-test")
        poll(lambda: OutboxEntry.objects.get(pk=entry.pk).status == OUT.DELIVERED,
             seconds=SLACK * one_try_seconds(), what=f"delivery after the resend\n{tail()}")
    finally:
        stop(worker)
        partner.close()
    delivered = OutboxEntry.objects.get(pk=entry.pk)
    assert partner.calls[-1] == bytes(delivered.document.body) and len(partner.calls) == ATTEMPTS + 1
    assert event_types(trade.order.stream)[-3:] == [
        "PartnerDocumentResent",
        "PartnerDocumentTransmitted",
        "PartnerDocumentDelivered",
    ]
    print(f"dead-lettered {dead_after:.1f}s after queueing (bound {dead_letter_seconds():.0f}s)")
