"""Bulk reprocess: all of one supplier's messages quarantined with one reason, in one action, with
progress, stoppable and safe to rerun, each attempt recorded; two runs at once never apply a message
twice (real threads on PostgreSQL)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from inventory import selectors as inventory_selectors
from scm.events.store import read_stream
from suppliers import inbound, services
from suppliers.models import InboundMessage, ReprocessAttempt, ReprocessRun, ShipNotice
from suppliers.services import reprocessing
from suppliers.services.profiles import supplier_profile_update
from tests.concurrency import run_threads
from tests.integration.test_suppliers_setup import asn_body, interchange, item, make_order, make_supplier

US_DATES = {"date_formats": {"DTM02": ["MM/DD/YY"]}}


def make_trade(unique: str) -> dict:
    supplier = make_supplier(unique)
    sku = item(f"A-{unique}").sku
    services.supplier_item_upsert(supplier=supplier.code, supplier_part=f"P-{unique}", sku=sku)
    order = make_order(unique, supplier, [(sku, 1000, "2.50")])
    return {"supplier": supplier, "sku": sku, "part": f"P-{unique}", "order": order, "unique": unique}


def quarantined(trade, n: int, *, shipped: str = "11/28/26", part: str | None = None, qty: int = 2) -> InboundMessage:
    body = asn_body(f"S{n}-{trade['unique']}", trade["order"].number, [("1", part or trade["part"], qty)])
    body = [f"DTM*011*{shipped}" if segment.startswith("DTM*011") else segment for segment in body]
    stored = inbound.inbound_message_store(body=interchange(trade["supplier"].isa_id, n, [("856", body)]), source="api")
    message = inbound.inbound_message_process(message_id=stored.pk)
    assert message.status == "QUARANTINED"
    return message


def inbound_units(trade) -> int:
    balance = inventory_selectors.balance_for(sku=trade["sku"], location=trade["order"].destination)
    return balance.inbound if balance else 0


@pytest.mark.django_db
def test_a_run_reprocesses_one_suppliers_messages_with_one_reason_and_records_each_attempt(unique):
    trade = make_trade(unique)
    other = make_trade(f"o{unique}")
    dated = [quarantined(trade, n) for n in (1, 2, 3)]
    unmapped = quarantined(trade, 4, shipped="20261128", part=f"NEW-{unique}")
    elsewhere = quarantined(other, 5)
    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings=US_DATES)

    run = reprocessing.reprocess_run_start(
        supplier=trade["supplier"].code, reason_code="x12_invalid_date", actor="user:ops"
    )
    assert (run.total, run.done, run.message_ids) == (3, 0, [m.pk for m in dated])
    seen = []
    run = reprocessing.reprocess_run_execute(
        run_id=run.pk, progress=lambda current, attempt: seen.append((current.done, attempt.outcome))
    )
    assert seen == [(1, "APPLIED"), (2, "APPLIED"), (3, "APPLIED")]
    assert (run.status, run.done, run.counts, run.finished_at is not None) == (
        "finished",
        3,
        {"APPLIED": 3},
        True,
    )
    attempts = list(run.attempts.order_by("id"))
    assert [(a.message_id, a.outcome, a.profile_versions, a.actor) for a in attempts] == [
        (m.pk, "APPLIED", {"856": 1}, "user:ops") for m in dated
    ]
    assert inbound_units(trade) == 6
    for message in dated:
        message.refresh_from_db()
        assert (message.status, message.profile_versions) == ("APPLIED", {"856": 1})
        assert read_stream(message.stream)[-1].metadata["actor"] == "user:ops"
    unmapped.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (unmapped.status, elsewhere.status) == ("QUARANTINED", "QUARANTINED")
    assert not ReprocessAttempt.objects.filter(message__in=[unmapped, elsewhere]).exists()

    # Safe to rerun: the same run does nothing more; a new run finds nothing left.
    again = reprocessing.reprocess_run_execute(run_id=run.pk)
    assert (again.done, again.attempts.count(), inbound_units(trade)) == (3, 3, 6)
    assert reprocessing.reprocess_run_start(supplier=trade["supplier"].code, reason_code="x12_invalid_date").total == 0


@pytest.mark.django_db
def test_a_run_stops_between_messages_and_resumes_where_it_stopped(unique):
    trade = make_trade(unique)
    messages = [quarantined(trade, n) for n in (1, 2, 3)]
    run = reprocessing.reprocess_run_start(supplier=trade["supplier"].code, reason_code="x12_invalid_date")

    def stop_after_first(current, attempt):
        reprocessing.reprocess_run_stop(run_id=current.pk)

    stopped = reprocessing.reprocess_run_execute(run_id=run.pk, progress=stop_after_first)
    # No profile yet: the first message is tried and stays quarantined (recorded, with the reason).
    assert (stopped.status, stopped.done, stopped.counts) == ("stopped", 1, {"QUARANTINED": 1})
    [first] = stopped.attempts.all()
    assert (first.message_id, first.errors[0]["element"]) == (messages[0].pk, "DTM02")

    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings=US_DATES)
    resumed = reprocessing.reprocess_run_execute(run_id=run.pk)
    assert (resumed.status, resumed.done, resumed.counts) == ("finished", 3, {"QUARANTINED": 1, "APPLIED": 2})
    assert [a.message_id for a in resumed.attempts.order_by("id")] == [m.pk for m in messages]
    # The first one is picked up by the next run.
    rerun = reprocessing.reprocess_run_start(supplier=trade["supplier"].code, reason_code="x12_invalid_date")
    assert rerun.message_ids == [messages[0].pk]


@pytest.mark.django_db
def test_the_command_runs_a_recorded_bulk_run_with_progress(unique):
    trade = make_trade(unique)
    messages = [quarantined(trade, n) for n in (1, 2)]
    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings=US_DATES)
    out, err = StringIO(), StringIO()
    call_command(
        "reprocess_inbound_messages",
        "--supplier",
        trade["supplier"].code,
        "--error-code",
        "x12_invalid_date",
        stdout=out,
        stderr=err,
    )
    run = ReprocessRun.objects.get(supplier=trade["supplier"])
    assert err.getvalue().splitlines() == [
        f"run {run.pk}: 2 message(s) of {trade['supplier'].code} quarantined with x12_invalid_date",
        f"[1/2] message {messages[0].pk} → APPLIED",
        f"[2/2] message {messages[1].pk} → APPLIED",
    ]
    assert out.getvalue().strip() == f"run {run.pk} finished: 2/2 done; applied 2"


@pytest.mark.django_db
def test_a_single_reprocess_is_recorded_too(unique):
    trade = make_trade(unique)
    message = quarantined(trade, 1)
    inbound.inbound_message_reprocess(message_id=message.pk, actor="user:ann")
    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings=US_DATES)
    inbound.inbound_message_reprocess(message_id=message.pk, actor="user:ann")
    assert [(a.run_id, a.outcome, a.profile_versions) for a in message.reprocess_attempts.order_by("id")] == [
        (None, "QUARANTINED", {}),
        (None, "APPLIED", {"856": 1}),
    ]


@pytest.mark.postgres
def test_two_bulk_runs_at_once_apply_each_message_exactly_once(committed_db, unique):
    trade = make_trade(unique)
    messages = [quarantined(trade, n, qty=n) for n in range(1, 9)]
    supplier_profile_update(supplier=trade["supplier"].code, document_type="856", settings=US_DATES)
    runs = [
        reprocessing.reprocess_run_start(supplier=trade["supplier"].code, reason_code="x12_invalid_date")
        for _ in range(2)
    ]
    assert [run.total for run in runs] == [8, 8]

    finished = run_threads(2, lambda index: reprocessing.reprocess_run_execute(run_id=runs[index].pk))

    outcomes = {
        message.pk: sorted(ReprocessAttempt.objects.filter(message=message).values_list("outcome", flat=True))
        for message in messages
    }
    assert outcomes == {message.pk: ["APPLIED", "SKIPPED"] for message in messages}
    assert sum(run.counts.get("APPLIED", 0) for run in finished) == 8
    assert [(run.status, run.done) for run in finished] == [("finished", 8), ("finished", 8)]
    for message in messages:
        events = [e.type for e in read_stream(message.stream)]
        assert events.count("SupplierMessageApplied") == 1
    assert ShipNotice.objects.filter(supplier=trade["supplier"]).count() == 8
    assert inbound_units(trade) == sum(range(1, 9))
