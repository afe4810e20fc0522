"""`manage.py run_event_relay`: the long-running relay of the event log to NATS JetStream."""

from __future__ import annotations

import asyncio
import signal

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scm.bus.relay import Relay

log = structlog.get_logger(__name__)


class Command(BaseCommand):
    help = "Publish the committed event log to NATS JetStream until stopped (SIGTERM/SIGINT). Needs NATS_URL."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--idle-when-off",
            action="store_true",
            help="with NATS_URL unset, wait for SIGTERM instead of failing (the Procfile's relay line: "
            "a process manager that stops everything when one process exits keeps running)",
        )

    def handle(self, *args, idle_when_off: bool, **options) -> None:
        if not settings.NATS_URL and not idle_when_off:
            raise CommandError("NATS_URL is not set: the event relay is off (see docs/EVENT_BUS.md).")
        asyncio.run(self._run(relay=settings.NATS_URL != ""))

    async def _run(self, *, relay: bool) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if relay:
            await Relay().run(stop)
        else:
            log.info("bus.relay_off", reason="NATS_URL is not set")
            await stop.wait()
