"""`manage.py event_relay_status [--set-position N]`: where the relay is; move its checkpoint."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from scm.bus.selectors import relay_status
from scm.bus.services import relay_checkpoint_set


class Command(BaseCommand):
    help = "Show the event relay's checkpoint, lag and last error; --set-position moves the checkpoint."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="", help="relay name (default EVENT_RELAY_NAME)")
        parser.add_argument("--set-position", type=int, default=None, help="put the checkpoint at this position")

    def handle(self, *args, name: str, set_position: int | None, **options) -> None:
        name = name or settings.EVENT_RELAY_NAME
        if set_position is not None:
            relay_checkpoint_set(name=name, position=set_position)
        status = relay_status(name=name)
        self.stdout.write(
            f"relay {status.name}: position {status.position} of {status.head} ({status.lag} behind), "
            f"{status.published_count} published, {status.error_count} failed rounds"
            + (f", last error at {status.last_error_at:%H:%M:%S}: {status.last_error}" if status.failing else "")
        )
