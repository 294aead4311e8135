"""The next request to run, oldest first across the partitions a worker holds.

A worker runs one request at a time. Taken in the order the consumer hands records over, a
worker holding several partitions drains one partition's fetched records before the next's, so
requests ran in partition order, not in the order they were made (measured in the 10-study
burst: positions off by 2 places and finish estimates by 47 s; docs/SCHEDULING.md). Here the
fetched records wait per partition, and the next one is the oldest among the heads of the
partitions still held: by the request's own `occurred_at` when it has one (the time the API
stamped and answered as `requestedAt`, so the queue's positions are the order served), else by
the record's timestamp (when it was published).

Nothing is committed from here: the loop commits each record's offset after running it, as
before, so the records waiting here are redelivered after a crash like any uncommitted one.
A partition's records are replaced when the consumer hands over an offset already waiting
here (the partition came back after a rebalance), never doubled; one already taken is not
taken again unless the loop seeks back to it to retry (`forget`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import orjson


class Record(Protocol):
    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def value(self) -> bytes | None: ...


def age(record: Record) -> float:
    """When the request was made, in seconds: its `occurred_at`, else its record's time."""
    try:
        stamp = orjson.loads(record.value or b"{}").get("occurred_at")
        return datetime.fromisoformat(stamp).timestamp()
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return record.timestamp / 1000.0


P = TypeVar("P")  # a partition (aiokafka's TopicPartition)
M = TypeVar("M", bound=Record)


class OldestFirst(Generic[P, M]):
    """Fetched records by partition; `take` gives the oldest head of the partitions held."""

    def __init__(self) -> None:
        self._waiting: dict[P, deque[M]] = {}
        self._taken: dict[P, int] = {}  # the offset last taken, per partition

    def add(self, fetched: Mapping[P, Sequence[M]]) -> None:
        for partition, handed in fetched.items():
            taken = self._taken.get(partition, -1)
            records = [r for r in handed if r.offset > taken]
            if not records:
                continue
            queue = self._waiting.setdefault(partition, deque())
            first = records[0].offset
            while queue and queue[-1].offset >= first:  # handed over again: the new ones win
                queue.pop()
            queue.extend(records)

    def take(self, held: Collection[P]) -> tuple[P, M] | None:
        """The oldest waiting record of a partition in `held`, removed; records of partitions
        no longer held are dropped (their new owner reads them from the committed offset)."""
        for partition in [p for p in self._waiting if p not in held]:
            self.forget(partition)
        oldest = self._oldest()
        if oldest is None:
            return None
        record = self._waiting[oldest].popleft()
        self._taken[oldest] = record.offset
        return oldest, record

    def peek(self) -> M | None:
        """The record `take` would give next if nothing changed meanwhile, left waiting."""
        partition = self._oldest()
        return None if partition is None else self._waiting[partition][0]

    def _oldest(self) -> P | None:
        heads = [(age(q[0]), i, p) for i, (p, q) in enumerate(self._waiting.items()) if q]
        return min(heads, key=lambda head: (head[0], head[1]))[2] if heads else None

    def forget(self, partition: P) -> None:
        """Drop what waits for `partition` and what was taken from it (the loop seeks it
        back to retry a record, or it is no longer held)."""
        self._waiting.pop(partition, None)
        self._taken.pop(partition, None)

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())
