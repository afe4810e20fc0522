"""Polling supplier endpoints against real parts: an HTTP feed on a loopback server (pytest-httpserver) with
retries, backoff and a dead letter after the last try; and a drop folder on disk where a file moves to
processed/ only after its raw message committed (a crash between leaves a duplicate, never a loss)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from werkzeug import Response

from suppliers import polling, services, tasks
from suppliers.models import InboundMessage, PollAttempt
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

pytestmark = pytest.mark.django_db


@pytest.fixture
def trade(unique, httpserver, tmp_path, settings):
    settings.SUPPLIER_POLL_RETRIES = 2
    supplier = make_supplier(unique, feed_url=httpserver.url_for("/feed"), drop_folder=str(tmp_path))
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"P-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 10, "2.50")])
    return {"supplier": supplier, "order": order, "part": f"P-{unique}", "folder": tmp_path}


def asn(trade, number: str, control: int) -> bytes:
    return interchange(
        trade["supplier"].isa_id, control, [("856", asn_body(number, trade["order"].number, [("1", trade["part"], 1)]))]
    )


def attempts(trade, channel: str) -> list[tuple[str, int, int, str]]:
    rows = PollAttempt.objects.filter(supplier=trade["supplier"], channel=channel).order_by("pk")
    return [(a.status, a.tries, a.messages_stored, a.error) for a in rows]


# --- HTTP feed -----------------------------------------------------------------------------------


def test_feed_message_is_stored_processed_and_not_fetched_again_when_unchanged(trade, httpserver, unique):
    body = asn(trade, f"H-{unique}", 1)
    httpserver.expect_oneshot_request("/feed").respond_with_response(
        Response(body, status=200, headers={"ETag": '"v1"', "Content-Type": "application/edi-x12"})
    )
    httpserver.expect_oneshot_request("/feed", headers={"If-None-Match": '"v1"'}).respond_with_response(
        Response(b"", status=304)
    )
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "stored"
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "nothing"
    httpserver.check_assertions()
    assert attempts(trade, "http") == [("SUCCEEDED", 1, 1, ""), ("SUCCEEDED", 1, 0, "")]
    [message] = InboundMessage.objects.filter(supplier=trade["supplier"], source="http_poll")
    assert (message.status, bytes(message.body), message.filename) == ("APPLIED", body, httpserver.url_for("/feed"))
    assert message.content_type == "application/edi-x12"


def test_a_feed_serving_the_same_body_again_stores_it_once(trade, httpserver, unique):
    body = asn(trade, f"SAME-{unique}", 2)
    httpserver.expect_request("/feed").respond_with_data(body)
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "stored"
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "nothing"
    assert InboundMessage.objects.filter(supplier=trade["supplier"], source="http_poll").count() == 1


def test_transient_failures_retry_then_dead_letter_and_the_next_poll_tries_again(trade, httpserver, unique):
    httpserver.expect_ordered_request("/feed").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/feed").respond_with_data("busy", status=502)
    httpserver.expect_ordered_request("/feed").respond_with_data("slow down", status=429)
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "retry"
    httpserver.check_assertions()
    url = httpserver.url_for("/feed")
    assert attempts(trade, "http") == [("FAILED", 3, 0, f"gave up after 3 tries: HTTP 429 from {url}")]
    assert len(httpserver.log) == 3

    httpserver.clear()
    httpserver.expect_request("/feed").respond_with_data(asn(trade, f"LATER-{unique}", 3))
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "stored"
    assert attempts(trade, "http")[-1] == ("SUCCEEDED", 1, 1, "")


def test_refused_requests_are_not_retried(trade, httpserver):
    httpserver.expect_request("/feed").respond_with_data("who are you", status=403)
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "failed"
    url = httpserver.url_for("/feed")
    assert attempts(trade, "http") == [
        ("FAILED", 1, 0, f"HTTP 403 from {url} (not retried: the request itself was refused)")
    ]
    assert len(httpserver.log) == 1


def test_an_unreachable_feed_retries_and_dead_letters(trade, unique):
    services.supplier_upsert(
        code=trade["supplier"].code, name=trade["supplier"].name, feed_url="http://127.0.0.1:9/feed"
    )
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "retry"
    [(status, tries, stored, error)] = attempts(trade, "http")
    assert (status, tries, stored) == ("FAILED", 3, 0)
    assert error == (
        "gave up after 3 tries: calling http://127.0.0.1:9/feed: cannot connect to 127.0.0.1:9: Connection refused"
    )


def test_a_feed_response_above_the_limit_is_refused(trade, httpserver, settings):
    settings.SUPPLIER_MESSAGE_MAX_BYTES = 1000
    httpserver.expect_request("/feed").respond_with_data(b"ISA" + b"*" * 2000)
    assert tasks.poll_supplier_feed.delay(trade["supplier"].pk).get() == "failed"
    assert attempts(trade, "http") == [("FAILED", 1, 0, "the feed response is larger than the 1000-byte limit")]
    assert not InboundMessage.objects.filter(supplier=trade["supplier"]).exists()


def test_backoff_grows_exponentially_with_jitter_and_a_cap(settings):
    settings.SUPPLIER_POLL_BACKOFF_BASE_SECONDS = 2
    settings.SUPPLIER_POLL_BACKOFF_CAP_SECONDS = 60
    rng = random.Random(7)
    for retries, ceiling in [(0, 2), (1, 4), (2, 8), (3, 16), (4, 32), (5, 60), (9, 60)]:
        samples = [polling.backoff_seconds(retries, rng=rng) for _ in range(200)]
        assert ceiling / 2 <= min(samples) and max(samples) <= ceiling
        assert max(samples) - min(samples) > ceiling / 4  # jitter spreads them


# --- Drop folder ---------------------------------------------------------------------------------


def test_drop_folder_files_are_stored_then_moved_and_partial_files_wait(trade, unique):
    folder: Path = trade["folder"]
    x12 = asn(trade, f"F-{unique}", 4)
    (folder / "a.edi").write_bytes(x12)
    (folder / "b.json").write_bytes(b'{"document": "nope"}')
    (folder / "c.edi.part").write_bytes(b"ISA half")
    (folder / ".hidden").write_bytes(b"x")
    attempt = polling.drop_folder_poll(supplier_id=trade["supplier"].pk)
    assert (attempt.status, attempt.messages_stored, attempt.error) == ("SUCCEEDED", 2, "")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [".hidden", "c.edi.part"]
    assert sorted(p.name for p in (folder / "processed").iterdir()) == ["a.edi", "b.json"]
    stored = {
        Path(m.filename).name: m for m in InboundMessage.objects.filter(supplier=trade["supplier"], source="folder")
    }
    assert bytes(stored["a.edi"].body) == x12
    assert (stored["a.edi"].status, stored["b.json"].status) == ("APPLIED", "QUARANTINED")


def test_a_crash_between_store_and_move_leaves_the_file_to_be_recognised_as_a_duplicate(trade, unique):
    folder: Path = trade["folder"]
    body = asn(trade, f"CRASH-{unique}", 5)
    (folder / "asn.edi").write_bytes(body)
    (folder / "processed").write_text("a file where the processed/ folder should be: the move fails")
    failed = polling.drop_folder_poll(supplier_id=trade["supplier"].pk)
    [first] = InboundMessage.objects.filter(supplier=trade["supplier"], source="folder")
    assert failed.status == "FAILED"
    assert failed.error.startswith(f"asn.edi: stored as message {first.pk} but not moved to processed/")
    assert (folder / "asn.edi").read_bytes() == body  # still there
    assert first.status == "APPLIED"

    (folder / "processed").unlink()
    again = polling.drop_folder_poll(supplier_id=trade["supplier"].pk)
    assert (again.status, again.messages_stored) == ("SUCCEEDED", 1)
    second = InboundMessage.objects.filter(supplier=trade["supplier"], source="folder").exclude(pk=first.pk).get()
    assert (second.status, second.duplicate_of_id) == ("DUPLICATE", first.pk)
    assert not (folder / "asn.edi").exists()
    assert (folder / "processed" / "asn.edi").read_bytes() == body


def test_oversized_files_go_to_rejected_and_a_missing_folder_is_a_failed_poll(trade, settings):
    settings.SUPPLIER_MESSAGE_MAX_BYTES = 10
    folder: Path = trade["folder"]
    (folder / "big.edi").write_bytes(b"ISA" + b"*" * 20)
    attempt = polling.drop_folder_poll(supplier_id=trade["supplier"].pk)
    assert attempt.status == "FAILED"
    assert attempt.error.startswith("big.edi: 23 bytes is above the 10-byte limit; moved to ")
    assert (folder / "rejected" / "big.edi").exists()
    services.supplier_upsert(code=trade["supplier"].code, name="x", drop_folder=str(folder / "missing"))
    missing = polling.drop_folder_poll(supplier_id=trade["supplier"].pk)
    assert (missing.status, missing.error) == (
        "FAILED",
        f"drop folder {folder / 'missing'} does not exist or is not a directory",
    )


# --- Scheduling ----------------------------------------------------------------------------------


def test_beat_polls_each_due_supplier_once_per_interval(trade, httpserver, unique):
    httpserver.expect_request("/feed").respond_with_data(b"", status=204)
    now = timezone.now()
    recent = make_supplier(f"r{unique}", drop_folder=str(trade["folder"]), poll_interval_seconds=600)
    services.supplier_upsert(code=recent.code, name=recent.name, drop_folder=str(trade["folder"]))
    from suppliers.models import Supplier

    Supplier.objects.filter(pk=recent.pk).update(last_polled_at=now - timedelta(seconds=60))
    due = polling.suppliers_due(now=now)
    assert trade["supplier"].pk in due and recent.pk not in due
    assert trade["supplier"].pk not in polling.suppliers_due(now=now)  # claimed for this slot
    assert trade["supplier"].pk in polling.suppliers_due(now=now + timedelta(seconds=301))

    Supplier.objects.filter(pk=trade["supplier"].pk).update(last_polled_at=None)
    tasks.poll_suppliers.delay().get()
    assert [a.channel for a in PollAttempt.objects.filter(supplier=trade["supplier"]).order_by("pk")] == [
        "folder",
        "http",
    ]
