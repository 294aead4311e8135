"""Slice-range tasks: one large compression spread over every compressor (docs/SCHEDULING.md).

The compressor that took a job (its *owner*) lays it out and, past a size, puts its slices on
the tasks topic in ranges; any compressor of the group takes a range, encodes its slices and
stores each one where the job keeps its slices. The owner then assembles the job exactly as a
re-run does: each stored slice is reused in index order, its event emitted, its bytes written
to the ZIP once; a slice no task stored (failed, or its task lost) the owner encodes itself.
So a task is only ever an acceleration: the job's history and artifact come from the owner
alone, whatever became of the tasks.

A task is not a fact of the job's history (no `seq`, no event): the events are the owner's.
Its id derives from the job and its first slice, so a re-published task is the same task.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from dicompress_schemas.codec import DecodeError
from dicompress_schemas.events import CompressionRequested, Tenant
from dicompress_schemas.topics import Lane

_TASK_NAMESPACE = uuid.UUID("5a3c1d7e-8b2f-4c61-9e0a-7d4b2f6e1c93")


def task_id(job_id: uuid.UUID, first: int) -> uuid.UUID:
    """The id of job `job_id`'s task starting at slice `first`: the same whoever publishes it."""
    return uuid.uuid5(_TASK_NAMESPACE, f"{job_id}/{first}")


class TaskSlice(BaseModel):
    """One slice of a task: its index in the job (anatomical order) and its source object."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    index: int = Field(ge=0)
    key: str = Field(min_length=1, max_length=1024)
    size: int = Field(ge=0)


class SliceRangeRequested(BaseModel):
    """Encode and store these slices of job `job_id` (the request says how and where)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["SliceRangeRequested"] = "SliceRangeRequested"
    version: Literal[1] = 1
    task_id: uuid.UUID
    job_id: uuid.UUID
    tenant: Tenant
    lane: Lane = Field(description="The lane of the job: its slices go first when interactive")
    attempt: int = Field(ge=1, description="The owner's run that published it")
    request: CompressionRequested
    slices: list[TaskSlice] = Field(min_length=1, max_length=4096)


TASK_TYPES: tuple[type[BaseModel], ...] = (SliceRangeRequested,)
_adapter: TypeAdapter[SliceRangeRequested] = TypeAdapter(SliceRangeRequested)


def encode_task(task: SliceRangeRequested) -> bytes:
    return orjson.dumps(task.model_dump(mode="json"))


def decode_task(data: bytes | dict[str, Any]) -> SliceRangeRequested:
    """Parse one task; DecodeError for anything else."""
    try:
        raw = data if isinstance(data, dict) else orjson.loads(data)
        if not isinstance(raw, dict):
            raise DecodeError("not a valid task: not a JSON object")
        return _adapter.validate_python(raw)
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise DecodeError(f"not a valid task: {exc}") from exc


def slice_ranges(count: int, size: int) -> list[range]:
    """The indices 0..count-1 in ranges of `size` (the last one shorter)."""
    return [range(first, min(first + size, count)) for first in range(0, count, size)]
