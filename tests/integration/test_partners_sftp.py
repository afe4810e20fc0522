"""SFTP with a real server on loopback (asyncssh, chrooted to a temp folder): our 850 lands in the
partner's inbox under its final name only when whole; the partner's 856 is pulled, stored byte-exact,
applied, and removed only after it was stored; dropped connections lose and duplicate nothing."""

from __future__ import annotations

import pytest

from partners import services as outbox
from partners import sftp_pull, transmit
from partners.models import OUT, AttemptOutcome, PulledFile
from suppliers.models import InboundMessage, PollAttempt, ShipNotice
from tests.partner_peers import SftpServer
from tests.partner_trade import TEST_SECRETS_KEY, asn_for, event_types, make_trade, send_order, sftp_connection

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def transport_settings(settings):
    settings.PARTNER_SECRETS_KEY = [TEST_SECRETS_KEY]
    settings.PARTNER_OUTBOX_AUTORUN = False  # tests drive the sends
    settings.PARTNER_CONNECT_TIMEOUT_SECONDS = 5
    settings.PARTNER_TIMEOUT_SECONDS = 10
    settings.PARTNER_MAX_ATTEMPTS = 3


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "partner"
    for folder in ("inbox", "outbox", "archive"):
        (root / folder).mkdir(parents=True)
    sftp = SftpServer(root)
    yield sftp
    sftp.close()


@pytest.fixture
def trade(unique, server):
    trade = make_trade(unique)
    sftp_connection(trade, server)
    return trade


def due_now(entry) -> None:
    entry.refresh_from_db()
    type(entry).objects.filter(pk=entry.pk).update(next_attempt_at=entry.queued_at)


def test_our_850_lands_whole_in_their_inbox_and_counts_as_delivered(trade, server):
    entry = send_order(trade)
    assert entry is not None and entry.status == OUT.QUEUED

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED

    entry.refresh_from_db()
    files = sorted(p.name for p in (server.root / "inbox").iterdir())
    assert files == [entry.remote_name]
    assert (server.root / "inbox" / entry.remote_name).read_bytes() == bytes(entry.document.body)
    assert event_types(trade.order.stream)[-4:] == [
        "PurchaseOrderSent",
        "PartnerDocumentQueued",
        "PartnerDocumentTransmitted",
        "PartnerDocumentDelivered",
    ]


def test_a_connection_dropped_while_writing_leaves_no_half_file_and_the_retry_writes_one(trade, server):
    server.drop_on_write = ".part"
    entry = send_order(trade)

    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.QUEUED
    assert [p.name for p in (server.root / "inbox").iterdir() if not p.name.startswith(".")] == []
    due_now(entry)
    assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DELIVERED

    entry.refresh_from_db()
    assert sorted(p.name for p in (server.root / "inbox").iterdir()) == [entry.remote_name]
    assert (server.root / "inbox" / entry.remote_name).read_bytes() == bytes(entry.document.body)
    assert [a.outcome for a in entry.delivery_attempts.all()] == [AttemptOutcome.RETRY, AttemptOutcome.DELIVERED]


def test_a_wrong_host_key_is_refused_and_dead_letters_at_once(trade, server, unique):
    from partners.connections import partner_connection_save

    other = SftpServer(server.root)
    try:
        partner_connection_save(supplier=trade.supplier.code, sftp_host_key=other.public_key)
        entry = send_order(trade)
        assert transmit.outbox_entry_transmit(entry_id=entry.pk) == OUT.DEAD
    finally:
        other.close()
    entry.refresh_from_db()
    assert "host key is not the pinned one" in entry.last_error
    assert list((server.root / "inbox").iterdir()) == []


def test_their_856_is_pulled_stored_byte_exact_applied_then_removed(trade, server, unique):
    send_order(trade)
    body = asn_for(trade, f"S-{unique}", 501)
    (server.root / "outbox" / "asn-501.x12").write_bytes(body)
    (server.root / "outbox" / ".hidden").write_bytes(b"not yet")
    (server.root / "outbox" / "asn-502.x12.part").write_bytes(b"being written")

    result = sftp_pull.sftp_pull(connection_id=trade.supplier.partner_connection.pk)

    assert (result.stored, result.removed, result.errors) == (1, 1, [])
    [message] = InboundMessage.objects.filter(supplier=trade.supplier, source="sftp")
    assert bytes(message.body) == body
    assert (message.status, message.filename) == ("APPLIED", "/outbox/asn-501.x12")
    assert ShipNotice.objects.filter(supplier=trade.supplier, number=f"S-{unique}").exists()
    assert sorted(p.name for p in (server.root / "outbox").iterdir()) == [".hidden", "asn-502.x12.part"]
    assert PulledFile.objects.get(inbound_message=message).removed_at is not None
    assert PollAttempt.objects.filter(supplier=trade.supplier, channel="sftp").first().status == "SUCCEEDED"


def test_a_connection_dropped_mid_read_removes_nothing_and_stores_nothing(trade, server, unique):
    send_order(trade)
    body = asn_for(trade, f"S-{unique}", 601)
    (server.root / "outbox" / "asn-601.x12").write_bytes(body)
    server.drop_on_read = "asn-601.x12"
    connection_id = trade.supplier.partner_connection.pk

    first = sftp_pull.sftp_pull(connection_id=connection_id)
    assert first.stored == 0 and first.errors
    assert (server.root / "outbox" / "asn-601.x12").read_bytes() == body
    assert not InboundMessage.objects.filter(supplier=trade.supplier, source="sftp").exists()
    assert PollAttempt.objects.filter(supplier=trade.supplier, channel="sftp").first().status == "FAILED"

    second = sftp_pull.sftp_pull(connection_id=connection_id)
    assert (second.stored, second.removed, second.errors) == (1, 1, [])
    assert InboundMessage.objects.filter(supplier=trade.supplier, source="sftp").count() == 1


def test_a_connection_dropped_after_storing_before_removing_does_not_store_twice(trade, server, unique):
    send_order(trade)
    body = asn_for(trade, f"S-{unique}", 701)
    (server.root / "outbox" / "asn-701.x12").write_bytes(body)
    server.drop_on_remove = "asn-701.x12"
    connection_id = trade.supplier.partner_connection.pk

    first = sftp_pull.sftp_pull(connection_id=connection_id)
    assert first.stored == 1 and first.removed == 0 and first.errors
    assert (server.root / "outbox" / "asn-701.x12").exists()

    second = sftp_pull.sftp_pull(connection_id=connection_id)
    assert (second.stored, second.already_stored, second.removed) == (0, 1, 1)
    assert not (server.root / "outbox" / "asn-701.x12").exists()
    [message] = InboundMessage.objects.filter(supplier=trade.supplier, source="sftp")
    assert message.status == "APPLIED"
    assert ShipNotice.objects.filter(supplier=trade.supplier).count() == 1


def test_pulled_files_can_be_moved_to_an_archive_instead(trade, server, unique):
    from partners.connections import partner_connection_save

    partner_connection_save(supplier=trade.supplier.code, sftp_after_pull="move", sftp_archive_path="/archive")
    send_order(trade)
    (server.root / "outbox" / "asn-801.x12").write_bytes(asn_for(trade, f"S-{unique}", 801))

    assert sftp_pull.sftp_pull(connection_id=trade.supplier.partner_connection.pk).stored == 1
    assert [p.name for p in (server.root / "archive").iterdir()] == ["asn-801.x12"]


def test_due_connections_are_claimed_once_per_interval(trade, server):
    connection_id = trade.supplier.partner_connection.pk
    assert connection_id in sftp_pull.connections_due()
    assert connection_id not in sftp_pull.connections_due()


__all__ = ["outbox"]
