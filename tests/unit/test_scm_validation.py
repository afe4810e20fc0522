"""The input checks every app's services share (scm.validation)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from inventory.models import Item
from scm.errors import ValidationFailed
from scm.validation import FUTURE_TOLERANCE, as_date, clean_or_fail, past_or_now


def test_as_date_takes_dates_datetimes_and_iso_strings_and_names_a_bad_one():
    assert as_date("2024-03-01", "due") == as_date(date(2024, 3, 1), "due") == date(2024, 3, 1)
    assert as_date(datetime(2024, 3, 1, 23, 0, tzinfo=UTC), "due") == date(2024, 3, 1)
    with pytest.raises(ValidationFailed) as raised:
        as_date("01/03/2024", "due")
    assert raised.value.message == "due '01/03/2024' is not an ISO date (YYYY-MM-DD)."
    assert raised.value.fields == {"due": "01/03/2024"}


def test_past_or_now_defaults_to_now_and_refuses_naive_and_future_times():
    before = datetime.now(UTC)
    assert before <= past_or_now(None, "at") <= datetime.now(UTC)
    within = datetime.now(UTC) + FUTURE_TOLERANCE - timedelta(seconds=5)
    assert past_or_now(within, "at") == within
    with pytest.raises(ValidationFailed, match="at must carry a time zone"):
        past_or_now(datetime(2024, 1, 1), "at")
    with pytest.raises(ValidationFailed, match="at lies in the future"):
        past_or_now(datetime.now(UTC) + FUTURE_TOLERANCE + timedelta(minutes=1), "at")


@pytest.mark.django_db
def test_clean_or_fail_names_the_first_problem_and_keeps_every_field():
    with pytest.raises(ValidationFailed) as raised:
        clean_or_fail(Item(sku="X" * 100, name="", pack_size=1), validate_unique=False)
    assert raised.value.message.split(":")[0] in raised.value.fields
    assert {"sku", "name"} <= set(raised.value.fields)
    assert all(isinstance(messages, list) for messages in raised.value.fields.values())
