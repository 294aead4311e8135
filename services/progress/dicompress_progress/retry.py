"""When a failed event is retried, and when it is given up to the dead-letter topic.

The rule: skipping an event would lose data, so a failure is retried, with capped exponential
backoff, for as long as the worker runs, unless the failure is the event's own fault. Then
retrying can never help and would stall its partition for good, so after a few attempts (to rule
out a fluke) the event is dead-lettered with the reason: parked, not lost, replayable by hand.

The event's own fault means: the projection refuses it (ProjectionError), or Postgres rejects its
data (SQLSTATE class 22 data exception, 23 integrity violation). Anything else (connection lost,
timeouts, failover, serialization failures, deadlocks, Kafka down, even a bug of ours) is retried
forever and logged at ERROR each time: the lag grows and someone fixes the cause; no event is
dropped. The offset is not acknowledged while retrying, so a stop or rebalance in between means
the event is delivered again, which the tracking record makes harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from dicompress_progress.errors import ProjectionError

_POISON_SQLSTATE_CLASSES = frozenset({"22", "23"})


def is_poison(exc: BaseException) -> bool:
    """True if `exc` says the event itself can never be applied."""
    if isinstance(exc, ProjectionError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        return sqlstate[:2] in _POISON_SQLSTATE_CLASSES
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff, and how often a poison event is tried before dead-lettering."""

    base_s: float = 0.2
    cap_s: float = 30.0
    poison_attempts: int = 3

    def delay_s(self, attempt: int) -> float:
        """Pause after the `attempt`-th failure (1-based): base, 2 base, 4 base... up to cap."""
        return float(min(self.cap_s, self.base_s * 2 ** min(attempt - 1, 30)))

    def gives_up(self, exc: BaseException, attempt: int) -> bool:
        """True if the event should be dead-lettered after failing `attempt` times with `exc`."""
        return is_poison(exc) and attempt >= self.poison_attempts
