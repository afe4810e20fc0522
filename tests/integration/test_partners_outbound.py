"""Partner transport through the one outbound policy (scm.outbound), with real partners on loopback:
the address policy refuses a partner's address before anything connects (HTTPS and SFTP alike, an
SFTP host name judged by what it resolves to, and connected to by that address), and every call of a
supplier counts in its one circuit, `transport:<supplier code>`, which holds pushes and pulls alike
while open, ignores refusals by a live partner, and is shown to ops."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from urllib.parse import urlsplit

import asyncssh
import pytest
from django.utils import timezone

from partners import as2_inbound, circuit, sftp_pull, transmit
from partners import services as outbox
from partners.adapters import http
from partners.connections import partner_connection_save
from partners.exceptions import BreakerOpen, ConnectionInvalid
from partners.models import OUT, As2Direction, As2Message, As2Status, AttemptOutcome, OutboxEntry, PartnerConnection
from scm.outbound import policy
from scm.outbound.breaker import DbBreaker
from scm.outbound.models import Breaker
from suppliers.models import PollAttempt, PollChannel, PollStatus
from tests.partner_peers import SftpServer
from tests.partner_trade import TEST_SECRETS_KEY, event_types, make_trade, send_order, sftp_connection
from tests.partners import refused_url
from tests.unit.test_dashboard import login

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def transport_settings(settings):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False
    settings.PARTNER_CONNECT_TIMEOUT_SECONDS = 2
    settings.PARTNER_TIMEOUT_SECONDS = 5
    settings.PARTNER_MAX_ATTEMPTS = 5
    settings.PARTNER_BACKOFF_BASE_SECONDS = 10
    settings.PARTNER_BACKOFF_CAP_SECONDS = 40
    settings.PARTNER_BREAKER_THRESHOLD = 2
    settings.PARTNER_BREAKER_RESET_SECONDS = 60


@pytest.fixture
def names(monkeypatch):
    """Emulated DNS for names public DNS would answer (`names["host"] = ["address", ...]`)."""
    table: dict[str, list[str]] = {}
    real = policy.resolver

    def resolve(host: str, port: int):
        if host not in table:
            return real(host, port)
        return [ipaddress.ip_address(address) for address in table[host]]

    monkeypatch.setattr(policy, "resolver", resolve)
    return table


@pytest.fixture
def sftp_server(tmp_path):
    root = tmp_path / "partner"
    for folder in ("inbox", "outbox"):
        (root / folder).mkdir(parents=True)
    server = SftpServer(root)
    yield server
    server.close()


def https_trade(unique: str, url: str):
    trade = make_trade(unique)
    partner_connection_save(supplier=trade.supplier.code, protocol="https", https_url=url)
    return trade


@pytest.fixture
def saved_while_allowed(settings):
    """Save connections while loopback is allowed, then run with the policy's real (empty) allow-list:
    the address a partner's name points at can change after ops saved it; the connect-time check holds."""

    def save(make):
        settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
        try:
            return make()
        finally:
            settings.OUTBOUND_ALLOWED_NETWORKS = []

    return save


def due_now(entry: OutboxEntry) -> None:
    OutboxEntry.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def inbox(server: SftpServer) -> list[str]:
    return sorted(p.name for p in (server.root / "inbox").iterdir())


# --- The address policy ---------------------------------------------------------------------------


def test_a_connection_to_a_refused_address_is_refused_at_save(strict_outbound, sftp_server, unique):
    trade = make_trade(unique)
    with pytest.raises(ConnectionInvalid) as https:
        partner_connection_save(supplier=trade.supplier.code, protocol="https", https_url="https://127.0.0.1:8443/edi")
    assert https.value.message.startswith(
        "The HTTPS URL is refused by the outbound policy: 127.0.0.1:8443, a loopback address"
    )
    with pytest.raises(ConnectionInvalid) as sftp:
        sftp_connection(trade, sftp_server, sftp_host="localhost")
    assert sftp.value.message.startswith(
        f"The SFTP host is refused by the outbound policy: localhost resolves to 127.0.0.1:{sftp_server.port}"
    )
    assert sftp.value.fields == {"sftp_host": "localhost"}
    assert not PartnerConnection.objects.filter(supplier=trade.supplier).exists()


def test_an_https_partner_on_a_refused_address_is_never_called_and_dead_letters_at_once(
    strict_outbound, saved_while_allowed, httpserver, unique
):
    httpserver.expect_request("/edi", method="POST").respond_with_data("ok")
    trade = saved_while_allowed(lambda: https_trade(unique, httpserver.url_for("/edi")))
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD
    entry.refresh_from_db()
    assert httpserver.log == []
    assert f"resolves to 127.0.0.1:{httpserver.port}, a loopback address" in entry.last_error
    assert [a.outcome for a in entry.delivery_attempts.all()] == [AttemptOutcome.DEAD]
    assert circuit.breaker_view(trade.supplier.code).consecutive_failures == 0, "our refusal, not the partner's"


def test_an_allow_listed_https_partner_is_called(strict_outbound, settings, httpserver, unique):
    httpserver.expect_request("/edi", method="POST").respond_with_data("ok")
    settings.OUTBOUND_ALLOWED_NETWORKS = [f"127.0.0.1:{httpserver.port}"]  # exactly this partner
    entry = send_order(https_trade(unique, httpserver.url_for("/edi")))

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED
    [(request, _)] = httpserver.log
    assert request.headers["Content-Type"] == "application/edi-x12"
    assert request.get_data() == bytes(entry.document.body)


def test_an_sftp_partner_on_a_refused_address_is_never_connected_to(
    strict_outbound, saved_while_allowed, sftp_server, unique
):
    trade = make_trade(unique)
    saved_while_allowed(lambda: sftp_connection(trade, sftp_server))
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD
    entry.refresh_from_db()
    assert f"Refused by the outbound policy: 127.0.0.1:{sftp_server.port}, a loopback address" in entry.last_error
    assert sftp_pull.sftp_pull(connection_id=entry.connection_id).stored == 0
    poll = PollAttempt.objects.filter(supplier=trade.supplier).get()
    assert (poll.channel, poll.status) == (PollChannel.SFTP, PollStatus.FAILED)
    assert "Refused by the outbound policy" in poll.error
    assert sftp_server.connections == 0 and inbox(sftp_server) == []
    assert circuit.breaker_view(trade.supplier.code).consecutive_failures == 0


def test_an_sftp_host_name_is_judged_by_its_address_and_connected_to_by_it(
    strict_outbound, saved_while_allowed, settings, names, sftp_server, unique
):
    names["sftp.partner.example"] = ["127.0.0.1"]  # a name no resolver here knows: only the judged address works
    trade = make_trade(unique)
    saved_while_allowed(lambda: sftp_connection(trade, sftp_server, sftp_host="sftp.partner.example"))
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD
    entry.refresh_from_db()
    assert f"sftp.partner.example resolves to 127.0.0.1:{sftp_server.port}, a loopback address" in entry.last_error
    assert sftp_server.connections == 0

    settings.OUTBOUND_ALLOWED_NETWORKS = [f"127.0.0.1:{sftp_server.port}"]
    outbox.outbox_entry_resend(entry_id=entry.pk, actor="ops-test")
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED
    entry.refresh_from_db()
    assert inbox(sftp_server) == [entry.remote_name] and sftp_server.connections == 1


# --- The circuit ----------------------------------------------------------------------------------


def test_an_sftp_partner_that_is_down_opens_its_circuit_which_holds_pushes_and_pulls(sftp_server, unique):
    down_port = urlsplit(refused_url()).port
    trade = make_trade(unique)
    connection = sftp_connection(trade, sftp_server, sftp_port=down_port)
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.QUEUED
    due_now(entry)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.QUEUED
    view = circuit.breaker_view(trade.supplier.code)
    assert (view.name, view.state, view.consecutive_failures) == (f"transport:{trade.supplier.code}", "open", 2)
    assert "Connection refused" in view.last_error or "ConnectionRefused" in view.last_error

    sftp_connection(trade, sftp_server)  # the partner is back on its real port; the circuit is still open
    due_now(entry)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == ""
    entry.refresh_from_db()
    assert (entry.status, entry.attempts, entry.next_attempt_at) == (OUT.QUEUED, 2, view.opened_until)
    result = sftp_pull.sftp_pull(connection_id=connection.pk)
    assert result.errors[0].startswith(f"circuit 'transport:{trade.supplier.code}' is open")
    assert sftp_server.connections == 0, "neither the push nor the pull went out while open"

    Breaker.objects.filter(name=view.name).update(opened_until=timezone.now() - timedelta(seconds=1))
    due_now(entry)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED, "the probe went out and delivered"
    assert circuit.breaker_view(trade.supplier.code).state == "closed"
    assert inbox(sftp_server) == [OutboxEntry.objects.get(pk=entry.pk).remote_name]


def test_a_live_sftp_partner_that_refuses_does_not_open_its_circuit(sftp_server, unique):
    not_theirs = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    trade = make_trade(unique)
    sftp_connection(trade, sftp_server, sftp_host_key=not_theirs)
    entry = send_order(trade)
    for number in range(3):
        if number:
            outbox.outbox_entry_resend(entry_id=entry.pk, actor="ops-test")
        assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD
    assert "host key is not the pinned one" in OutboxEntry.objects.get(pk=entry.pk).last_error
    assert sftp_server.connections == 3
    assert circuit.breaker_view(trade.supplier.code).state == "closed"


def test_a_try_the_circuit_refused_at_the_last_moment_is_given_back(httpserver, unique):
    trade = https_trade(unique, httpserver.url_for("/edi"))
    entry = send_order(trade)
    events_before = event_types(trade.order.stream)
    claim = outbox.outbox_claim(entry_id=entry.pk)
    until = timezone.now() + timedelta(seconds=45)

    status = outbox.outbox_record(
        claim=claim, outcome=outbox.Outcome("skipped", error="circuit is open", retry_at=until)
    )

    entry.refresh_from_db()
    assert (status, entry.attempts, entry.next_attempt_at, entry.last_error) == (OUT.QUEUED, 0, until, "")
    assert [(a.number, a.outcome) for a in entry.delivery_attempts.all()] == [(1, AttemptOutcome.SKIPPED)]
    assert event_types(trade.order.stream) == events_before


def test_the_http_adapter_does_not_call_a_partner_whose_circuit_is_open(httpserver, unique):
    httpserver.expect_request("/edi", method="POST").respond_with_data("ok")
    trade = https_trade(unique, httpserver.url_for("/edi"))
    name = circuit.breaker_name(trade.supplier.code)
    for _ in range(2):
        DbBreaker(name, circuit.breaker_policy()).record_failure("HTTP 503", probe=False)

    with pytest.raises(BreakerOpen) as refused:
        http.post(url=httpserver.url_for("/edi"), body=b"x", headers={}, call=circuit.http_call(trade.supplier.code))
    assert refused.value.until == circuit.breaker_view(trade.supplier.code).opened_until
    assert httpserver.log == []


def test_an_async_mdn_we_owe_waits_for_the_partners_circuit(httpserver, unique):
    httpserver.expect_request("/mdn", method="POST").respond_with_data("")
    trade = https_trade(unique, httpserver.url_for("/edi"))
    record = As2Message.objects.create(
        connection=trade.supplier.partner_connection,
        direction=As2Direction.IN,
        message_id=f"m-{unique}@partner",
        status=As2Status.ACCEPTED,
        mdn_mode="async",
        mdn_url=httpserver.url_for("/mdn"),
        mdn_body=b"the MDN",
        mdn_headers={"Content-Type": "multipart/report"},
    )
    for _ in range(2):
        DbBreaker(circuit.breaker_name(trade.supplier.code), circuit.breaker_policy()).record_failure(
            "HTTP 503", probe=False
        )
    assert as2_inbound.async_mdn_send(record_id=record.pk) == "retry"
    assert httpserver.log == []

    circuit.circuit_close(trade.supplier.code)
    assert as2_inbound.async_mdn_send(record_id=record.pk) == "sent"
    [(request, _)] = httpserver.log
    assert request.get_data() == b"the MDN"


def test_ops_see_a_suppliers_open_circuit_in_the_admin_and_on_the_dashboard(admin_client, httpserver, unique):
    trade = https_trade(unique, httpserver.url_for("/edi"))
    send_order(trade)
    for _ in range(2):
        DbBreaker(circuit.breaker_name(trade.supplier.code), circuit.breaker_policy()).record_failure(
            "HTTP 503", probe=False
        )

    listing = admin_client.get(f"/admin/partners/partnerconnection/?q={trade.supplier.code}").content.decode()
    assert "open until" in listing and "2 failure(s) in a row" in listing
    assert f"/admin/outbound/breaker/?q=transport:{trade.supplier.code}" in listing
    change = admin_client.get(f"/admin/partners/partnerconnection/{trade.supplier.partner_connection.pk}/change/")
    assert "2 failure(s) in a row" in change.content.decode()

    ops = login("ops", unique)
    page = ops.get("/transport/dead/").content.decode()
    section = page[page.index('data-testid="transport-circuits"') :]
    assert f"transport:{trade.supplier.code}" in section and "HTTP 503" in section
    po_page = ops.get(f"/purchase-orders/{trade.order.number}/").content.decode()
    assert 'data-testid="po-circuit"' in po_page and "circuit open" in po_page
