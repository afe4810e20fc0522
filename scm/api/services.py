"""Writes of the API layer: API client accounts and the housekeeping of idempotency records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from scm.api.models import IdempotencyRecord, IntegrationProfile
from scm.errors import ValidationFailed
from scm.roles import INTEGRATION, OPS, PLANNER

ROLES = (PLANNER, OPS, INTEGRATION)


class InvalidApiClient(ValidationFailed):
    code = "invalid_api_client"


@dataclass(frozen=True)
class ApiClient:
    user_id: int
    username: str
    role: str
    supplier_code: str
    token: str
    created: bool


@transaction.atomic
def integration_user_create(*, username: str, role: str = INTEGRATION, supplier_code: str = "") -> ApiClient:
    """Create (or bring up to date) an API client account with one role and return its token.

    The account has no usable password: it authenticates with its token only. Running it again
    for an existing user sets the role and supplier binding and keeps the existing token, so it is
    safe in provisioning scripts. Only integration accounts may be bound to a supplier (planners
    and ops see everything by definition).

    Raises InvalidApiClient for an empty username, an unknown role or a binding on a non-integration role.
    """
    username = username.strip()
    supplier_code = supplier_code.strip()
    if not username:
        raise InvalidApiClient("A username is required.", username="required")
    if role not in ROLES:
        raise InvalidApiClient(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.", role=role)
    if supplier_code and role != INTEGRATION:
        raise InvalidApiClient("Only integration accounts can be bound to a supplier.", role=role)

    user_model = get_user_model()
    user = user_model.objects.select_for_update().filter(username=username).first()
    created = user is None
    if created:
        user = user_model(username=username)
        user.set_unusable_password()
        user.save()
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))
    IntegrationProfile.objects.update_or_create(user=user, defaults={"supplier_code": supplier_code})
    token, _ = Token.objects.get_or_create(user=user)
    return ApiClient(
        user_id=user.pk, username=username, role=role, supplier_code=supplier_code, token=token.key, created=created
    )


@transaction.atomic
def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete stored responses older than IDEMPOTENCY_RETENTION_HOURS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
