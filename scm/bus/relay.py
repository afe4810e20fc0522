"""The relay: follows the committed event log by position and publishes every event to JetStream.

What it guarantees, and how:

- **Nothing skipped.** It reads with `scm.events.store.read_all(after=checkpoint)`, which never
  skips an event that commits late (appends commit in position order, docs/ARCHITECTURE.md).
- **Order.** Events are published in position order, so each stream's events in version order.
  Many publishes are in flight at once (EVENT_RELAY_MAX_IN_FLIGHT), and a publish that got lost
  must not let a later one overtake it: every message carries `Nats-Expected-Last-Sequence`, the
  stream sequence the message before it got. JetStream refuses a message whose predecessor is
  missing, so what the stream holds is always a prefix of the log, whatever the network did.
- **Checkpoint after acknowledgement.** The checkpoint row (`bus_relaycheckpoint`) moves to the
  last event of an unbroken run of acknowledgements, after they arrived, never before.
- **Nothing twice.** On every (re)start and after every failed round the relay asks JetStream for
  the stream's last message and resumes after its `Scm-Position` header, so a relay that died
  between publishing and saving its checkpoint does not publish again. Every message also carries
  `Nats-Msg-Id` = event id: inside the stream's duplicate window JetStream drops a repeat anyway,
  and consumers that de-duplicate on the event id are safe beyond it.
- **Backoff.** A round that published nothing (NATS down, stream missing, no acknowledgement in
  EVENT_RELAY_ACK_TIMEOUT_SECONDS) is counted and recorded on the checkpoint row (/readyz, metrics,
  dashboard) and followed by an exponential wait with jitter; the NATS client reconnects by
  itself, and the relay catches up once acknowledgements come back.
- **One active relay.** On PostgreSQL a session advisory lock keyed by the relay name makes a
  second relay stand by until the first one exits (a hot standby). Two relays that both publish
  (a lost lock) still cannot reorder or duplicate, for the reasons above.

The database is used from one worker thread (Django's ORM is synchronous); NATS from the event loop.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from scm.bus import services
from scm.bus.jetstream import BusSettings, connect, ensure_stream, stream_config
from scm.bus.messages import HEADER_POSITION, message_for
from scm.bus.publisher import Publisher, PublishRefused
from scm.events.store import RecordedEvent, read_all

log = structlog.get_logger(__name__)

HEADER_EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
WRONG_LAST_SEQUENCE = 10071
LOCK_NAMESPACE = 7_466_510_002
HEARTBEAT_SECONDS = 5.0
STANDBY_SECONDS = 2.0


class SequenceShifted(Exception):
    """JetStream's last sequence is not what this relay expected (a duplicate, or another writer)."""


@dataclass(frozen=True)
class RelayOptions:
    name: str
    batch: int
    max_in_flight: int
    ack_timeout: float
    poll_seconds: float
    backoff_base: float
    backoff_cap: float

    @classmethod
    def from_settings(cls) -> RelayOptions:
        return cls(
            name=settings.EVENT_RELAY_NAME,
            batch=settings.EVENT_RELAY_BATCH,
            max_in_flight=settings.EVENT_RELAY_MAX_IN_FLIGHT,
            ack_timeout=settings.EVENT_RELAY_ACK_TIMEOUT_SECONDS,
            poll_seconds=settings.EVENT_RELAY_POLL_SECONDS,
            backoff_base=settings.EVENT_RELAY_BACKOFF_BASE_SECONDS,
            backoff_cap=settings.EVENT_RELAY_BACKOFF_CAP_SECONDS,
        )


@dataclass(frozen=True)
class RoundResult:
    acked: int
    published: int
    error: Exception | None


def backoff_seconds(failures: int, *, base: float, cap: float) -> float:
    """Equal jitter: half of min(cap, base * 2**(failures-1)) fixed, half random."""
    delay = min(cap, base * 2 ** max(0, failures - 1))
    return delay / 2 + random.uniform(0, delay / 2)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, asyncio.TimeoutError | TimeoutError) and not text:
        text = "no acknowledgement in time"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Relay:
    def __init__(self, *, options: RelayOptions | None = None, bus: BusSettings | None = None) -> None:
        self.options = options or RelayOptions.from_settings()
        self.bus = bus or BusSettings.from_settings()
        self.checkpoint = 0
        self.last_seq = 0
        self.failures = 0
        self._lock_held = False
        self._stream_ensured = False
        self._prefetch: tuple[int, asyncio.Future] | None = None
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-db")

    # --- the database, from its one thread ----------------------------------------------------

    async def _db(self, function, /, **kwargs):
        def call():
            try:
                return function(**kwargs)
            except (DatabaseError, InterfaceError):
                # The session (and with it the advisory lock) may be gone: start a fresh one.
                self._lock_held = False
                connection.close()
                raise

        return await asyncio.get_running_loop().run_in_executor(self._db_thread, call)

    def _try_lock(self) -> bool:
        if connection.vendor != "postgresql":
            return True
        key = zlib.crc32(self.options.name.encode()) - 2**31
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_NAMESPACE % 2**31, key])
            return bool(cursor.fetchone()[0])

    async def _hold_lock(self, stop: asyncio.Event) -> None:
        announced = False
        while not self._lock_held and not stop.is_set():
            self._lock_held = await self._db(self._try_lock)
            if not self._lock_held:
                if not announced:
                    log.info("bus.relay_standby", relay=self.options.name, reason="another relay holds the lock")
                    announced = True
                await _sleep(stop, STANDBY_SECONDS)

    # --- the main loop -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; the round in progress finishes and saves its checkpoint."""
        client: Client | None = None
        try:
            client = await self._connect(stop)
            if client is not None:
                log.info("bus.relay_started", relay=self.options.name, stream=self.bus.stream)
                publisher = Publisher(client, max_in_flight=self.options.max_in_flight)
                await self._publish_until(client.jetstream(), publisher, stop)
        finally:
            if client is not None:
                await _close(client)
            await self.close()
            log.info("bus.relay_stopped", relay=self.options.name, checkpoint=self.checkpoint)

    async def close(self) -> None:
        """Release the database session (and with it the advisory lock) and its thread."""
        await asyncio.get_running_loop().run_in_executor(self._db_thread, _close_connection)
        self._db_thread.shutdown(wait=True)

    async def _connect(self, stop: asyncio.Event) -> Client | None:
        while not stop.is_set():
            try:
                await self._hold_lock(stop)
                return None if stop.is_set() else await connect(self.bus)
            except Exception as exc:  # noqa: BLE001 - recorded, retried after a backoff
                await self._failed(exc, stop=stop)
        return None

    async def _publish_until(self, js: JetStreamContext, publisher: Publisher, stop: asyncio.Event) -> None:
        synced = False
        last_heartbeat = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self._hold_lock(stop)
                fresh = not synced
                if fresh:
                    await self._resync(js)
                    synced = True
                result = await self._round(publisher)
                if result is None:
                    if loop.time() - last_heartbeat > HEARTBEAT_SECONDS:
                        await self._db(services.relay_heartbeat, name=self.options.name)
                        last_heartbeat = loop.time()
                    await _sleep(stop, self.options.poll_seconds)
                    continue
                if result.acked:
                    self.failures = 0
                if result.error is not None:
                    synced = False
                    # A stale expected sequence is fixed by resyncing, unless it persists right after one.
                    if result.acked == 0 and (fresh or not _is_stale_sequence(result.error)):
                        raise result.error
            except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried after a backoff
                synced = False
                await self._failed(exc, stop=stop)

    async def _failed(self, exc: Exception, *, stop: asyncio.Event) -> None:
        self.failures += 1
        error = describe(exc)
        delay = backoff_seconds(self.failures, base=self.options.backoff_base, cap=self.options.backoff_cap)
        log.warning(
            "bus.relay_round_failed",
            relay=self.options.name,
            error=error,
            failures=self.failures,
            retry_in=round(delay, 2),
            checkpoint=self.checkpoint,
        )
        try:
            await self._db(services.relay_error_record, name=self.options.name, error=error)
        except Exception as db_exc:  # noqa: BLE001 - the database may be the thing that is down
            log.warning("bus.relay_error_not_recorded", relay=self.options.name, error=describe(db_exc))
        await _sleep(stop, delay)

    # --- resuming where JetStream is ------------------------------------------------------------

    async def _resync(self, js: JetStreamContext) -> None:
        """Learn the stream's last sequence and resume after the last event it holds."""
        if not self._stream_ensured:
            await ensure_stream(js, stream_config(self.bus))
            self._stream_ensured = True
        try:
            info = await js.stream_info(self.bus.stream)
        except NotFoundError:
            self._stream_ensured = False  # deleted under us: create it again next time
            raise
        self.last_seq = info.state.last_seq
        published = await self._last_published_position(js, info.state.last_seq, info.state.messages)
        stored = (await self._db(services.relay_checkpoint_get, name=self.options.name)).position
        if published > stored:
            await self._db(services.relay_checkpoint_advance, name=self.options.name, position=published, published=0)
            log.info("bus.relay_resumed_from_stream", relay=self.options.name, checkpoint=stored, stream_has=published)
        self.checkpoint = max(stored, published)

    async def _last_published_position(self, js: JetStreamContext, last_seq: int, messages: int) -> int:
        if not last_seq or not messages:
            return 0
        try:
            message = await js.get_msg(self.bus.stream, seq=last_seq)
        except NotFoundError:
            return 0  # the last message expired or was deleted: the checkpoint row decides
        try:
            return int((message.headers or {}).get(HEADER_POSITION, 0))
        except ValueError:
            return 0

    # --- one round: read a batch, publish it, save the checkpoint --------------------------------

    async def _round(self, publisher: Publisher) -> RoundResult | None:
        events = await self._next_batch()
        if not events:
            return None
        # Read the following batch while this one waits for its acknowledgements.
        self._prefetch = (events[-1].position, asyncio.ensure_future(self._read_after(events[-1].position)))
        result, position = await self._publish(publisher, events)
        if result.acked:
            await self._db(
                services.relay_checkpoint_advance,
                name=self.options.name,
                position=position,
                published=result.published,
            )
            self.checkpoint = position
        return result

    async def _read_after(self, position: int) -> list[RecordedEvent]:
        return await self._db(read_all, after=position, limit=self.options.batch)

    async def _next_batch(self) -> list[RecordedEvent]:
        """The events after the checkpoint: the prefetched batch when it starts there, else a fresh read."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:
            after, future = prefetch
            if after == self.checkpoint:
                return await future
            future.add_done_callback(_discard)  # read for a round that failed: the checkpoint decides
        return await self._read_after(self.checkpoint)

    async def _publish(self, publisher: Publisher, events: list[RecordedEvent]) -> tuple[RoundResult, int]:
        """Publish `events` pipelined; return what was acknowledged without a gap, and its last position."""
        futures: list[asyncio.Future] = []
        error: Exception | None = None
        for offset, event in enumerate(events):
            message = message_for(event, prefix=self.bus.subject_prefix)
            headers = {**message.headers, HEADER_EXPECTED_LAST_SEQUENCE: str(self.last_seq + offset)}
            try:
                futures.append(
                    await publisher.publish(
                        message.subject, message.body, headers=headers, stall=self.options.ack_timeout
                    )
                )
            except Exception as exc:  # noqa: BLE001 - stop sending; what was sent is still collected
                error = exc
                break
        acked = published = 0
        position = self.checkpoint
        deadline = asyncio.get_running_loop().time() + self.options.ack_timeout
        for event, future in zip(events, futures, strict=False):
            if error is not None:
                _discard(future)
                continue
            try:
                ack = await asyncio.wait_for(future, max(0.001, deadline - asyncio.get_running_loop().time()))
            except Exception as exc:  # noqa: BLE001 - the first missing acknowledgement ends the run
                error = exc
                continue
            acked += 1
            position = event.position
            if ack.duplicate:
                # Stored before; the stream's sequence did not move, so every later expectation is off by one.
                error = SequenceShifted(f"event at position {event.position} was already in the stream")
            else:
                published += 1
                self.last_seq = ack.seq
        return RoundResult(acked=acked, published=published, error=error), position


def _is_stale_sequence(exc: Exception) -> bool:
    return isinstance(exc, SequenceShifted) or (isinstance(exc, PublishRefused) and exc.err_code == WRONG_LAST_SEQUENCE)


def _close_connection() -> None:
    """Close the calling thread's connection (looked up here: `connection` is per thread)."""
    connection.close()


def _discard(future: asyncio.Future) -> None:
    """Give up on a publish after an earlier one failed (an answer already there is read, not logged)."""
    if future.done():
        if not future.cancelled():
            future.exception()
    else:
        future.cancel()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


async def _close(client: Client) -> None:
    try:
        await asyncio.wait_for(client.close(), timeout=5)
    except Exception as exc:  # noqa: BLE001 - closing is best effort on the way out
        log.warning("bus.nats_close_failed", error=describe(exc))
