"""Checks every app's services make on their input, written once: model validation as a domain
error, ISO dates, and times that must carry a zone and not lie in the future."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils import timezone

from scm.errors import ValidationFailed

#: How far in the future a reported time may lie (clock skew between us and the sender).
FUTURE_TOLERANCE = timedelta(minutes=5)


def clean_or_fail(
    instance: models.Model,
    *,
    exclude: Sequence[str] = (),
    validate_unique: bool = True,
    validate_constraints: bool = True,
) -> None:
    """`full_clean`, with a failure raised as ValidationFailed: the first problem in the message and
    every field's messages in `fields`."""
    try:
        instance.full_clean(
            exclude=list(exclude) or None,
            validate_unique=validate_unique,
            validate_constraints=validate_constraints,
        )
    except DjangoValidationError as exc:
        fields = {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
        first_name, first_messages = next(iter(fields.items()))
        raise ValidationFailed(f"{first_name}: {first_messages[0]}", **fields) from None


def as_date(value: date | str, name: str) -> date:
    """A date given as a date, a datetime (its date) or an ISO string (YYYY-MM-DD)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(f"{name} {value!r} is not an ISO date (YYYY-MM-DD).", **{name: str(value)}) from None


def past_or_now(value: datetime | None, name: str) -> datetime:
    """When something happened: now when not given; it must carry a time zone and not lie in the
    future (beyond FUTURE_TOLERANCE)."""
    now = timezone.now()
    if value is None:
        return now
    if timezone.is_naive(value):
        raise ValidationFailed(f"{name} must carry a time zone.", **{name: str(value)})
    if value > now + FUTURE_TOLERANCE:
        raise ValidationFailed(f"{name} lies in the future.", **{name: value.isoformat()})
    return value
