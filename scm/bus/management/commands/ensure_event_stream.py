"""`manage.py ensure_event_stream`: create or update the JetStream stream from the settings.

Idempotent: run it on every deploy. Only the fields the settings describe are changed (subjects,
retention, discard, storage, replicas, max age, max bytes, duplicate window).
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scm.bus.jetstream import BusSettings, connect, ensure_stream, stream_config


class Command(BaseCommand):
    help = "Create or update the JetStream stream of the event bus from the NATS_* settings."

    def handle(self, *args, **options) -> None:
        if not settings.NATS_URL:
            raise CommandError("NATS_URL is not set: there is no event bus to configure.")
        try:
            outcome, changes = asyncio.run(self._ensure())
        except Exception as exc:
            raise CommandError(f"could not configure the stream: {type(exc).__name__}: {exc}") from exc
        detail = f" ({'; '.join(changes)})" if changes else ""
        self.stdout.write(f"stream {settings.NATS_STREAM}: {outcome}{detail}")

    async def _ensure(self) -> tuple[str, list[str]]:
        bus = BusSettings.from_settings()
        client = await connect(bus, name="scm-ensure-event-stream")
        try:
            return await ensure_stream(client.jetstream(), stream_config(bus))
        finally:
            await client.close()
