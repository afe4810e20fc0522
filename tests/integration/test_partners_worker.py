"""The outbox run by the real thing: a Celery worker with beat on Redis, and a partner on loopback that
first hangs, then answers 503, then is fixed. The worker's tries are bounded by their budget, the
entry dead-letters, ops resend it, and the worker delivers it — no test code calls the send."""

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

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(180)]


class FlakyPartner:
    """Hangs on the first call, answers 503 while `down`, 200 after."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []
        self.down = True
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                partner.calls.append(body)
                if len(partner.calls) == 1:
                    time.sleep(8)  # longer than the worker's budget: it must give up first
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
        self.server.shutdown()
        self.server.server_close()


def test_a_worker_retries_a_down_partner_within_budget_dead_letters_and_delivers_after_resend(
    committed_db, unique, tmp_path, settings
):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False
    partner = FlakyPartner()
    trade = make_trade(unique)
    partner_connection_save(supplier=trade.supplier.code, protocol="https", https_url=partner.url)
    entry = send_order(trade)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": os.environ["TEST_REDIS_URL"],
        "SECRET_KEY": "partners-worker-test",
        "PARTNER_SECRETS_KEY": TEST_SECRETS_KEY,
        "PARTNER_TIMEOUT_SECONDS": "2",
        "PARTNER_CONNECT_TIMEOUT_SECONDS": "2",
        "PARTNER_MAX_ATTEMPTS": "3",
        "PARTNER_BACKOFF_BASE_SECONDS": "1",
        "PARTNER_BACKOFF_CAP_SECONDS": "2",
        "PARTNER_BREAKER_THRESHOLD": "10",
        "PARTNER_OUTBOX_SWEEP_SECONDS": "1",
        "EVENT_DISPATCH_ON_COMMIT": "0",
        "ORDER_WORKFLOW_AUTORUN": "0",
    }
    worker = start_worker(env, tmp_path / "worker.log", "--beat", f"--schedule={tmp_path / 'beat-schedule'}")
    try:
        poll(
            lambda: OutboxEntry.objects.get(pk=entry.pk).status == OUT.DEAD,
            seconds=90,
            what=f"the entry to dead-letter\n{(tmp_path / 'worker.log').read_text()[-3000:]}",
        )
        dead = OutboxEntry.objects.get(pk=entry.pk)
        attempts = list(dead.delivery_attempts.values_list("outcome", "error"))
        assert [outcome for outcome, _ in attempts] == [AttemptOutcome.RETRY] * 2 + [AttemptOutcome.DEAD]
        assert "Timeout" in attempts[0][1]  # the hanging call was cut at its budget
        assert all("HTTP 503" in error for _, error in attempts[1:])

        partner.down = False
        outbox.outbox_entry_resend(entry_id=entry.pk, actor="ops-test")
        poll(
            lambda: OutboxEntry.objects.get(pk=entry.pk).status == OUT.DELIVERED,
            seconds=60,
            what=f"delivery after the resend\n{(tmp_path / 'worker.log').read_text()[-3000:]}",
        )
    finally:
        stop(worker)
        partner.close()
    delivered = OutboxEntry.objects.get(pk=entry.pk)
    assert partner.calls[-1] == bytes(delivered.document.body)
    assert event_types(trade.order.stream)[-3:] == [
        "PartnerDocumentResent",
        "PartnerDocumentTransmitted",
        "PartnerDocumentDelivered",
    ]
