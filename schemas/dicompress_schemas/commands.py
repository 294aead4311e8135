"""Commands: requests to change a job that is already under way, on the control topic.

A command is not a fact of the job's history (it has no `seq`): the fact is the event its
handler emits, e.g. `JobCancelled`. Every compressor reads the control topic, since any of
them may hold the job, and the progress worker records commands for the audit trail.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from dicompress_schemas.codec import DecodeError
from dicompress_schemas.events import Tenant, utc_now
from dicompress_schemas.upcast import upcast


class CancelRequested(BaseModel):
    """Someone asked for a job to stop; a compressor holding it stops within a second."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["CancelRequested"] = "CancelRequested"
    version: Literal[1] = 1
    command_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    job_id: uuid.UUID
    tenant: Tenant
    requested_at: AwareDatetime = Field(default_factory=utc_now)
    reason: str = Field(default="cancelled by the requester", max_length=1000)


Command = CancelRequested
COMMAND_TYPES: tuple[type[BaseModel], ...] = (CancelRequested,)
_adapter: TypeAdapter[Command] = TypeAdapter(Command)


def encode_command(command: Command) -> bytes:
    return orjson.dumps(command.model_dump(mode="json"))


def decode_command(data: bytes | dict[str, Any]) -> Command:
    """Parse one command, lifted to its current version by the events' upcaster chain
    (`upcast`); DecodeError for anything else."""
    try:
        raw = data if isinstance(data, dict) else orjson.loads(data)
        if not isinstance(raw, dict):
            raise DecodeError("not a valid command: not a JSON object")
        return _adapter.validate_python(upcast(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise DecodeError(f"not a valid command: {exc}") from exc
