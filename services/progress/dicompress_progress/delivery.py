"""What the projection store is handed (a decoded message and where it was read) and what it
answers for each: shared by the job store (`store.py`) and the study index's
(`study_index_store.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from dicompress_schemas import Command, Event, IngestEvent


@dataclass(frozen=True)
class Origin:
    """Where a message was read from; kept in the tracking tables and in every log line."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class Delivered:
    """One decoded event or command and where it came from (None if not read from Kafka)."""

    event: Event | Command | IngestEvent
    origin: Origin | None = None


class Outcome(StrEnum):
    APPLIED = "applied"  # recorded and folded into its row (or a command recorded)
    LATE = "late"  # recorded, but the job or ingest had ended: refused, its row kept its state
    DUPLICATE = "duplicate"  # recorded before: nothing changed
    SEQ_TAKEN = "seq-taken"  # another event holds this job/seq (e.g. another attempt): ignored


if TYPE_CHECKING:  # asyncpg's classes are generic only in its stubs
    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]
else:
    Connection = Any
