"""The per-partner breaker (interim): a few failed attempts in a row open it for a while, so a partner
that is down is not hammered and costs the workers nothing while it is open.

State lives on the connection row (`consecutive_failures`, `breaker_open_until`), so every worker
sees it. After the reset time one attempt goes through (half-open); its failure opens the breaker
again at once, its success closes it.

TODO(outbound): scm/outbound keeps DB-backed per-partner breakers for every outbound call; once it
lands on main, HTTP(S) and AS2 sends go through it and this module keeps only what SFTP needs (or
goes, if the outbound breakers take a partner key for SFTP too).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F

from partners.models import PartnerConnection


def is_open(connection: PartnerConnection, *, now: datetime) -> bool:
    return connection.breaker_open_until is not None and connection.breaker_open_until > now


def record_success(connection_id: int) -> None:
    PartnerConnection.objects.filter(pk=connection_id).update(consecutive_failures=0, breaker_open_until=None)


def record_failure(connection_id: int, *, now: datetime) -> None:
    """Count a failure; at the threshold (and on every failure past it) open for the reset time."""
    PartnerConnection.objects.filter(pk=connection_id).update(consecutive_failures=F("consecutive_failures") + 1)
    PartnerConnection.objects.filter(
        pk=connection_id, consecutive_failures__gte=settings.PARTNER_BREAKER_THRESHOLD
    ).update(breaker_open_until=now + timedelta(seconds=settings.PARTNER_BREAKER_RESET_SECONDS))
