"""Deadlocks and serialization failures at a service boundary are retried, then become TransientConflict."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from orders.models import Customer
from scm.conflicts import conflict_kind, retry_on_conflict
from scm.errors import TransientConflict
from scm.observability import metrics
from tests.concurrency import run_threads

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.DB_CONFLICT_ATTEMPTS = 4
    settings.DB_CONFLICT_RETRY_BASE_SECONDS = 0.001


def raise_sqlstate(code: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DO $$ BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '{code}'; END $$")


def counted(kind: str, outcome: str) -> float:
    return metrics.db_conflict_retries.labels(kind=kind, outcome=outcome)._value.get()


def test_a_real_deadlock_is_retried_and_both_transactions_get_through(committed_db, unique):
    rows = [Customer.objects.create(code=f"DL{n}-{unique}", name="Deadlock").pk for n in (1, 2)]
    both_hold_one = threading.Barrier(2)
    attempts: list[int] = []
    retried_before = counted("deadlock", "retried")

    @retry_on_conflict
    @transaction.atomic
    def bump_in_order(index: int) -> int:
        attempts.append(index)
        order = rows if index == 0 else rows[::-1]
        Customer.objects.filter(pk=order[0]).update(name=f"first by {index}")
        if attempts.count(index) == 1:
            both_hold_one.wait(timeout=10)  # first attempt: each holds one row and wants the other
        Customer.objects.filter(pk=order[1]).update(name=f"second by {index}")
        return index

    assert run_threads(2, bump_in_order) == [0, 1]
    retries = len(attempts) - 2  # the first attempts deadlock for sure; a retry may meet the other again
    assert retries >= 1
    assert counted("deadlock", "retried") == retried_before + retries
    assert [name for (name,) in Customer.objects.filter(pk__in=rows).order_by("pk").values_list("name")] in (
        ["first by 0", "second by 0"],
        ["second by 1", "first by 1"],
    )


def test_still_failing_after_the_last_attempt_raises_transient_conflict(committed_db):
    calls = []
    gave_up_before = counted("serialization_failure", "gave_up")

    @retry_on_conflict
    @transaction.atomic
    def always_conflicts() -> None:
        calls.append(1)
        raise_sqlstate("40001")

    with pytest.raises(TransientConflict) as caught:
        always_conflicts()

    assert len(calls) == 4
    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (503, "transient_conflict", 1)
    assert caught.value.fields == {"kind": "serialization_failure", "attempts": 4}
    assert conflict_kind(caught.value.__cause__) == "serialization_failure"
    assert counted("serialization_failure", "gave_up") == gave_up_before + 1


def test_inside_an_outer_transaction_it_does_not_retry_and_the_error_goes_up_unchanged(committed_db):
    calls = []

    @retry_on_conflict
    @transaction.atomic
    def deadlocks() -> None:
        calls.append(1)
        raise_sqlstate("40P01")

    with pytest.raises(DatabaseError) as caught, transaction.atomic():
        deadlocks()

    assert not isinstance(caught.value, TransientConflict)
    assert conflict_kind(caught.value) == "deadlock"
    assert calls == [1]


def test_other_database_errors_are_not_retried(committed_db):
    calls = []

    @retry_on_conflict
    @transaction.atomic
    def violates() -> None:
        calls.append(1)
        raise_sqlstate("23505")

    with pytest.raises(IntegrityError):
        violates()
    assert calls == [1]
