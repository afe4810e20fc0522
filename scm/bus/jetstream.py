"""Connecting to NATS and keeping the JetStream stream in the shape the settings describe."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats
import structlog
from django.conf import settings
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = structlog.get_logger(__name__)

CONNECT_BUDGET_SECONDS = 10.0
# The fields `ensure_stream` manages; anything else an operator set on the stream is left alone.
MANAGED_FIELDS = (
    "subjects",
    "retention",
    "discard",
    "storage",
    "num_replicas",
    "max_age",
    "max_bytes",
    "duplicate_window",
)


@dataclass(frozen=True)
class BusSettings:
    url: str
    credentials_file: str
    stream: str
    subject_prefix: str

    @classmethod
    def from_settings(cls) -> BusSettings:
        return cls(
            url=settings.NATS_URL,
            credentials_file=settings.NATS_CREDENTIALS_FILE,
            stream=settings.NATS_STREAM,
            subject_prefix=settings.NATS_SUBJECT_PREFIX,
        )


def stream_config(bus: BusSettings | None = None) -> StreamConfig:
    """The stream as the settings describe it: every subject under the prefix, limits retention."""
    bus = bus or BusSettings.from_settings()
    max_age_hours = settings.NATS_STREAM_MAX_AGE_HOURS
    return StreamConfig(
        name=bus.stream,
        description="The committed event log of supply chain core, published by its relay.",
        subjects=[f"{bus.subject_prefix}.>"],
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        storage=StorageType(settings.NATS_STREAM_STORAGE),
        num_replicas=settings.NATS_STREAM_REPLICAS,
        max_age=max_age_hours * 3600 if max_age_hours > 0 else 0,
        max_bytes=settings.NATS_STREAM_MAX_BYTES,
        duplicate_window=settings.NATS_STREAM_DUPLICATE_WINDOW_SECONDS,
    )


async def connect(bus: BusSettings, *, name: str = "scm-event-relay") -> Client:
    """One connection that reconnects by itself, forever; a dead server is noticed within ~30 s.

    The first connection gets CONNECT_BUDGET_SECONDS (nats-py would otherwise retry it forever,
    deaf to a stop request); the caller records the failure and tries again after its backoff.
    """

    async def on_error(exc: Exception) -> None:
        log.warning("bus.nats_error", error=repr(exc))

    async def on_disconnected() -> None:
        log.info("bus.nats_disconnected")  # also on a deliberate close; failures show as failed rounds

    async def on_reconnected() -> None:
        log.info("bus.nats_reconnected")

    connecting = nats.connect(
        servers=[server.strip() for server in bus.url.split(",") if server.strip()],
        name=name,
        user_credentials=bus.credentials_file or None,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        ping_interval=10,
        max_outstanding_pings=2,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    try:
        return await asyncio.wait_for(connecting, timeout=CONNECT_BUDGET_SECONDS)
    except TimeoutError:
        raise ConnectionError(f"no NATS server at {bus.url} answered within {CONNECT_BUDGET_SECONDS:.0f} s") from None


def _differences(current: StreamConfig, wanted: StreamConfig) -> list[str]:
    found = []
    for field in MANAGED_FIELDS:
        have, want = getattr(current, field), getattr(wanted, field)
        if field == "subjects":
            have, want = sorted(have or []), sorted(want or [])
        elif isinstance(want, float) or isinstance(have, float):
            have, want = round(float(have or 0), 3), round(float(want or 0), 3)
        if have != want:
            found.append(f"{field}: {have!r} -> {want!r}")
    return found


async def ensure_stream(js: JetStreamContext, wanted: StreamConfig) -> tuple[str, list[str]]:
    """Create the stream, or update the managed fields that differ; ("created"|"updated"|"unchanged", changes)."""
    try:
        info = await js.stream_info(wanted.name)
    except NotFoundError:
        await js.add_stream(wanted)
        log.info("bus.stream_created", stream=wanted.name, subjects=wanted.subjects)
        return "created", []
    changes = _differences(info.config, wanted)
    if not changes:
        return "unchanged", []
    updated = info.config.evolve(**{field: getattr(wanted, field) for field in MANAGED_FIELDS})
    await js.update_stream(updated)
    log.info("bus.stream_updated", stream=wanted.name, changes=changes)
    return "updated", changes
