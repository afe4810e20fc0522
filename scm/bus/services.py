"""Every write to the relay's checkpoint row. Called from the relay's database thread.

The position only moves forward (`Greatest`), so a relay that resumes from JetStream's last
message and one that saves a batch can never pull the checkpoint back.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from scm.bus.models import RelayCheckpoint

_ERROR_TEXT = 1000


def relay_checkpoint_get(*, name: str) -> RelayCheckpoint:
    """The relay's row, created at position 0 (publish the whole log) when it does not exist."""
    checkpoint, _ = RelayCheckpoint.objects.get_or_create(name=name)
    return checkpoint


@transaction.atomic
def relay_checkpoint_advance(*, name: str, position: int, published: int) -> None:
    """Record that JetStream acknowledged everything up to `position` (`published` new messages)."""
    now = timezone.now()
    relay_checkpoint_get(name=name)
    RelayCheckpoint.objects.filter(name=name).update(
        position=Greatest(F("position"), position),
        published_count=F("published_count") + published,
        last_published_at=now if published else F("last_published_at"),
        heartbeat_at=now,
    )


@transaction.atomic
def relay_error_record(*, name: str, error: str) -> None:
    """Count a publish round that failed and keep its reason for /readyz and the dashboard."""
    now = timezone.now()
    relay_checkpoint_get(name=name)
    RelayCheckpoint.objects.filter(name=name).update(
        error_count=F("error_count") + 1, last_error=error[:_ERROR_TEXT], last_error_at=now, heartbeat_at=now
    )


def relay_heartbeat(*, name: str) -> None:
    RelayCheckpoint.objects.filter(name=name).update(heartbeat_at=timezone.now())


@transaction.atomic
def relay_checkpoint_set(*, name: str, position: int) -> RelayCheckpoint:
    """Ops (and tests): put the checkpoint at `position`, forwards or back.

    Moving it back only republishes when the JetStream stream no longer holds later messages: on
    start the relay resumes after the last message the stream holds (see scm.bus.relay).
    """
    if position < 0:
        raise ValueError("position must be >= 0")
    checkpoint = relay_checkpoint_get(name=name)
    checkpoint.position = position
    checkpoint.save(update_fields=["position", "updated_at"])
    return checkpoint
