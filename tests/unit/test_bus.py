"""The event bus pieces that need no relay process: subjects, readiness, metrics, commands."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import nats
import pytest
from django.core.management import CommandError, call_command

from scm.bus.messages import category_of, message_for, subject_for
from scm.bus.models import RelayCheckpoint
from scm.bus.services import relay_checkpoint_advance, relay_checkpoint_set, relay_error_record
from scm.events import store
from scm.events.store import RecordedEvent
from tests.bus import in_own_thread, run_async


def recorded(stream: str, event_type: str = "OrderReserved", **metadata: str) -> RecordedEvent:
    moment = datetime(2026, 11, 30, 8, 0, 0, 123456, tzinfo=UTC)
    return RecordedEvent(
        position=42, event_id=uuid.uuid4(), stream=stream, version=3, type=event_type, schema_version=2,
        payload={"order_id": 7}, metadata=metadata, occurred_at=moment, recorded_at=moment,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stream", "category"),
    [
        ("order-42", "order"),
        ("stock-ABC-123@WH-A", "stock"),
        ("shipment-9", "shipment"),
        ("purchase-order-PO-2026-7", "purchase-order"),
        ("inbound-message-5", "inbound-message"),
        ("tracking-unmatched", "tracking"),
        ("Customer-ACME", "customer"),
        ("weird.stream*name>x", "weird_stream_name_x"),
        ("", "_"),
    ],
)
def test_the_category_is_the_streams_kind_as_one_safe_subject_token(stream, category):
    assert category_of(stream) == category


def test_subject_headers_and_body_of_one_event():
    event = recorded(
        "order-42", correlation_id="abc\r\nX-Evil: 1", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    )
    message = message_for(event, prefix="scm.events")
    assert message.subject == "scm.events.order.OrderReserved"
    assert subject_for(recorded("x-1", "Odd.Type*"), "p") == "p.x.Odd_Type_"
    assert message.headers["Scm-Correlation-Id"] == "abc X-Evil: 1"  # one header line, never two
    assert message.headers["traceparent"] == event.metadata["traceparent"]
    assert b'"occurred_at":"2026-11-30T08:00:00.123456Z"' in message.body
    assert message_for(recorded("order-1"), prefix="p").headers.keys() == {
        "Nats-Msg-Id", "Scm-Position", "Scm-Stream", "Scm-Version", "Scm-Event-Type", "Scm-Schema-Version"
    }  # fmt: skip


@pytest.mark.django_db
class TestReadiness:
    def test_no_relay_check_without_nats_url(self, client, settings):
        settings.NATS_URL = ""
        assert "event_relay" not in client.get("/readyz").json()["checks"]

    def test_a_relay_behind_the_threshold_fails_readiness_with_its_last_error(self, client, settings, unique):
        settings.NATS_URL, settings.EVENT_RELAY_NAME, settings.READINESS_MAX_RELAY_LAG = "nats://x", unique, 1
        for n in range(3):
            store.append_one(f"ready-{unique}", "TestEventRecorded", {"n": n})
        head = store.head_position()
        relay_checkpoint_set(name=unique, position=head - 2)
        relay_error_record(name=unique, error="TimeoutError: no acknowledgement in time")
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["event_relay"] == (
            f"event relay {unique} is 2 positions behind (more than 1); "
            "last error: TimeoutError: no acknowledgement in time"
        )
        relay_checkpoint_advance(name=unique, position=head, published=2)
        assert client.get("/readyz").json()["checks"]["event_relay"] == "ok"
        assert client.get("/readyz").status_code == 200

    def test_a_negative_threshold_switches_the_check_off(self, client, settings, unique):
        settings.NATS_URL, settings.EVENT_RELAY_NAME, settings.READINESS_MAX_RELAY_LAG = "nats://x", unique, -1
        store.append_one(f"ready-{unique}", "TestEventRecorded", {"n": 1})
        assert client.get("/readyz").json()["checks"]["event_relay"] == "ok"


@pytest.mark.django_db
def test_metrics_report_lag_published_and_errors_from_the_checkpoint_row(client, settings, unique):
    settings.NATS_URL, settings.EVENT_RELAY_NAME = "nats://x", unique
    store.append_one(f"metrics-{unique}", "TestEventRecorded", {"n": 1})
    relay_checkpoint_advance(name=unique, position=store.head_position() - 1, published=5)
    relay_error_record(name=unique, error="boom")
    relay_error_record(name=unique, error="boom")
    text = client.get("/metrics").content.decode()
    assert f'scm_event_relay_lag_positions{{relay="{unique}"}} 1.0' in text
    assert f'scm_event_relay_published_total{{relay="{unique}"}} 5.0' in text
    assert f'scm_event_relay_publish_errors_total{{relay="{unique}"}} 2.0' in text
    settings.NATS_URL = ""
    assert "scm_event_relay_lag_positions{" not in client.get("/metrics").content.decode()


@pytest.mark.django_db
def test_the_checkpoint_never_moves_back_when_advanced(unique):
    relay_checkpoint_advance(name=unique, position=10, published=10)
    relay_checkpoint_advance(name=unique, position=4, published=0)
    assert RelayCheckpoint.objects.get(name=unique).position == 10


def test_the_relay_command_refuses_to_run_without_nats_url(settings):
    settings.NATS_URL = ""
    with pytest.raises(CommandError, match="NATS_URL is not set"):
        call_command("run_event_relay")


@pytest.mark.nats
def test_ensure_event_stream_creates_then_leaves_then_updates_the_stream(settings, unique, capsys):
    settings.NATS_URL = os.environ["TEST_NATS_URL"]
    settings.NATS_STREAM, settings.NATS_SUBJECT_PREFIX = f"T_ENSURE_{unique.upper()}", f"t{unique}.events"
    settings.NATS_STREAM_MAX_AGE_HOURS = 1
    try:
        in_own_thread(call_command, "ensure_event_stream")
        in_own_thread(call_command, "ensure_event_stream")
        settings.NATS_STREAM_DUPLICATE_WINDOW_SECONDS = 60
        in_own_thread(call_command, "ensure_event_stream")
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == f"stream {settings.NATS_STREAM}: created"
        assert lines[1] == f"stream {settings.NATS_STREAM}: unchanged"
        assert lines[2] == f"stream {settings.NATS_STREAM}: updated (duplicate_window: 300.0 -> 60.0)"
        config = run_async(_config(settings.NATS_URL, settings.NATS_STREAM))
        assert (config.subjects, config.max_age, config.duplicate_window) == ([f"t{unique}.events.>"], 3600.0, 60.0)
    finally:
        run_async(_delete(settings.NATS_URL, settings.NATS_STREAM))


async def _config(url, stream):
    client = await nats.connect(url)
    try:
        return (await client.jetstream().stream_info(stream)).config
    finally:
        await client.close()


async def _delete(url, stream):
    client = await nats.connect(url)
    try:
        await client.jetstream().delete_stream(stream)
    finally:
        await client.close()


@pytest.mark.django_db
def test_the_dashboard_overview_shows_the_relay_lag_and_its_error_only_when_configured(settings, unique):
    from tests.unit.test_dashboard import PLANNER, login

    planner = login(PLANNER, unique)
    settings.NATS_URL = ""
    assert 'data-testid="event-relay"' not in planner.get("/").content.decode()

    settings.NATS_URL, settings.EVENT_RELAY_NAME = "nats://x", unique
    for n in range(4):
        store.append_one(f"dash-{unique}", "TestEventRecorded", {"n": n})
    relay_checkpoint_set(name=unique, position=store.head_position() - 3)
    relay_error_record(name=unique, error="NoStream: no JetStream stream answered")
    html = planner.get("/").content.decode()
    card = html[html.index('data-testid="event-relay"') :].split("</div>", 1)[0]
    assert '<span class="figure">3</span>' in card
    assert "failing since" in card and "NoStream: no JetStream stream answered" in card
