"""What both projection stores (the jobs' `store`, the study index's `study_index_store`) do
with a batch of events and their tracking tables, written once: keep the first event of each
stream/seq, tell the already-recorded (duplicate or seq taken) from the new, hand rows to
Postgres as `unnest` columns, and read and write a view's row.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import asyncpg

from dicompress_progress.delivery import Connection, Origin, Outcome
from dicompress_schemas import encode_event


class Tracked(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def event_id(self) -> uuid.UUID: ...


E = TypeVar("E", bound=Tracked)
V = TypeVar("V")


@dataclass(frozen=True)
class EventTable:
    """A tracking table whose rows are keyed by (`stream`, seq): `stream` is both its column
    and the events' attribute (job_events by job_id, ingest_events by ingest_id)."""

    table: str
    stream: str
    with_tenant: bool = False  # a `tenant` column after `type` (ingest_events has one)

    def key(self, event: Tracked) -> tuple[uuid.UUID, int]:
        stream: uuid.UUID = getattr(event, self.stream)
        return stream, event.seq

    async def record(
        self,
        conn: Connection,
        delivered: Sequence[tuple[int, E, Origin | None]],
        insert_sql: str,
        outcomes: dict[int, Outcome],
    ) -> list[tuple[int, E]]:
        """Insert the tracking rows of `delivered` (`insert_sql`: INSERT ... SELECT FROM
        unnest of `_columns`, RETURNING the stream and seq of each row it added); the events
        never recorded before, to apply, in batch order. The others' outcomes are set."""
        todo = self._first_of_each_seq(delivered, outcomes)
        if not todo:
            return []
        rows = await conn.fetch(insert_sql, *self._columns(todo))
        new = {(row[self.stream], row["seq"]) for row in rows}
        await self._mark_old(conn, [(i, e) for i, e, _ in todo if self.key(e) not in new], outcomes)
        return [(i, e) for i, e, _ in todo if self.key(e) in new]

    def _columns(self, todo: list[tuple[int, E, Origin | None]]) -> list[list[Any]]:
        """The tracking rows as columns: stream, seq, event_id, type, (tenant,) topic,
        partition, offset, occurred_at, payload."""
        rows = []
        for _, event, origin in todo:
            named: Any = event  # every event has these; `Tracked` types only seq and event_id
            tenant = (named.tenant,) if self.with_tenant else ()
            rows.append(
                (
                    getattr(event, self.stream),
                    event.seq,
                    event.event_id,
                    named.type,
                    *tenant,
                    *origin_values(origin),
                    named.occurred_at,
                    encode_event(named).decode(),
                )
            )
        return as_columns(rows, 10 if self.with_tenant else 9)

    def _first_of_each_seq(
        self, delivered: Sequence[tuple[int, E, Origin | None]], outcomes: dict[int, Outcome]
    ) -> list[tuple[int, E, Origin | None]]:
        """The first of each stream/seq in batch order; the others' outcomes set (the same
        event twice: DUPLICATE; another event on its seq: SEQ_TAKEN)."""
        first: dict[tuple[uuid.UUID, int], tuple[int, E, Origin | None]] = {}
        for item in delivered:
            i, event, _ = item
            key = self.key(event)
            if key in first:  # the same stream/seq twice in one batch: only the first can count
                same = first[key][1].event_id == event.event_id
                outcomes[i] = Outcome.DUPLICATE if same else Outcome.SEQ_TAKEN
            else:
                first[key] = item
        return list(first.values())

    async def _mark_old(
        self, conn: Connection, old: list[tuple[int, E]], outcomes: dict[int, Outcome]
    ) -> None:
        """Outcomes of events whose stream/seq was already recorded: DUPLICATE when by the
        same event, SEQ_TAKEN when by another (e.g. another attempt's)."""
        if not old:
            return
        streams = [self.key(e)[0] for _, e in old]
        rows = await conn.fetch(self._holders, streams, [e.seq for _, e in old])
        holders = {(r[self.stream], r["seq"]): r["event_id"] for r in rows}
        for i, event in old:
            holder = holders.get(self.key(event))
            taken = holder not in (None, event.event_id)
            outcomes[i] = Outcome.SEQ_TAKEN if taken else Outcome.DUPLICATE

    @property
    def _holders(self) -> str:
        s = self.stream
        # the table and column names are the constants of the stores, never input
        return (
            f"SELECT e.{s}, e.seq, e.event_id FROM {self.table} e "  # noqa: S608
            f"JOIN unnest($1::uuid[], $2::int[]) AS k ({s}, seq) USING ({s}, seq)"
        )


def origin_values(origin: Origin | None) -> tuple[str | None, int | None, int | None]:
    """A tracking row's topic, partition and offset (None for what was not read from Kafka)."""
    if origin is None:
        return None, None, None
    return origin.topic, origin.partition, origin.offset


def as_columns(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows of `width` values as `width` columns: one array parameter each for `unnest`."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for values in rows:
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


def view_of(row: asyncpg.Record, view_type: type[V], status_type: type[StrEnum]) -> V:
    """A view (a dataclass of the contract with a `status`) from its table row."""
    values = {f.name: row[f.name] for f in dataclasses.fields(view_type)}  # type: ignore[arg-type]
    values["status"] = status_type(values["status"])
    return view_type(**values)


def values_of(view: Any) -> list[Any]:
    """The table row of a view, in its fields' order (the status as its text)."""
    return [
        view.status.value if f.name == "status" else getattr(view, f.name)
        for f in dataclasses.fields(view)
    ]


def insert_sql(table: str, columns: Sequence[str], casts: dict[str, str] | None = None) -> str:
    """INSERT of one row of `columns` ($1..$n, `casts` after some), a row already there kept."""
    values = ", ".join(f"${i}{(casts or {}).get(c, '')}" for i, c in enumerate(columns, start=1))
    # the table and column names are the stores' constants, never input
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "  # noqa: S608
        "ON CONFLICT DO NOTHING"
    )


def upsert_view_sql(table: str, columns: Sequence[str], key: str) -> str:
    """INSERT of a view's row ($1..$n, then updated_at), replacing the row of the same `key`."""
    values = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c != key)
    # the table and column names come from the contract's view dataclasses, never from input
    return (
        f"INSERT INTO {table} ({', '.join(columns)}, updated_at) "  # noqa: S608
        f"VALUES ({values}, now()) "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}, updated_at = now()"
    )
