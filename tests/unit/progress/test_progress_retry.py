"""Which failures are the event's own fault, and how long the worker waits between retries."""

from __future__ import annotations

import asyncpg
import pytest

from dicompress_progress.errors import ProjectionError
from dicompress_progress.retry import RetryPolicy, is_poison


@pytest.mark.parametrize(
    ("exc", "poison"),
    [
        (ProjectionError("other tenant"), True),
        (asyncpg.exceptions.NumericValueOutOfRangeError("out of range"), True),  # 22003
        (asyncpg.exceptions.CheckViolationError("status"), True),  # 23514
        (asyncpg.exceptions.UniqueViolationError("dup"), True),  # 23505
        (asyncpg.exceptions.ConnectionDoesNotExistError("gone"), False),  # 08003
        (asyncpg.exceptions.SerializationError("retry"), False),  # 40001
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), False),  # 40P01
        (asyncpg.exceptions.AdminShutdownError("shutdown"), False),  # 57P01
        (asyncpg.exceptions.ReadOnlySQLTransactionError("failover"), False),  # 25006
        (asyncpg.exceptions.InterfaceError("closed pool"), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
        (RuntimeError("a bug of ours"), False),
    ],
)
def test_only_the_events_own_faults_are_poison(exc: BaseException, poison: bool) -> None:
    assert is_poison(exc) is poison


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=4.0)
    assert [policy.delay_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay_s(10_000) == 4.0  # no overflow after days of retrying


def test_gives_up_only_on_poison_after_enough_attempts() -> None:
    policy = RetryPolicy(poison_attempts=3)
    poison, transient = ProjectionError("x"), ConnectionResetError()
    assert [policy.gives_up(poison, n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert not any(policy.gives_up(transient, n) for n in (1, 3, 1000))
