"""`manage.py run_event_relay`: the long-running relay of the event log to NATS JetStream."""

from __future__ import annotations

import asyncio
import signal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scm.bus.relay import Relay


class Command(BaseCommand):
    help = "Publish the committed event log to NATS JetStream until stopped (SIGTERM/SIGINT). Needs NATS_URL."

    def handle(self, *args, **options) -> None:
        if not settings.NATS_URL:
            raise CommandError("NATS_URL is not set: the event relay is off (see docs/EVENT_BUS.md).")
        asyncio.run(self._run())

    async def _run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await Relay().run(stop)
