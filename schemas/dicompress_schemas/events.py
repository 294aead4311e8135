"""Frozen, past-tense, versioned events: the facts of a compression job.

Every event shares one envelope (`EventBase`). `seq` is the event's place in its job's history:
`CompressionRequested` is 0, `JobStarted` 1, the slices follow in index order and the terminal
event closes the job. The compressor derives `event_id` from (job_id, seq, attempt), so an event
re-emitted after a crash has the same identity only if it is the same fact.

Consumers ignore fields they do not know (`extra="ignore"`); a breaking change adds a new
`version` and an upcaster in `upcast.py`, never an edit in place.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

# Fixed namespace so event ids derived from (job, seq, attempt) are the same in every process.
_EVENT_NAMESPACE = uuid.UUID("6c0f4e1e-6a55-4d8c-9a0e-3b1f0f3f6a21")

S3Uri = Annotated[str, Field(pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$")]


def new_event_id(job_id: uuid.UUID, seq: int, attempt: int = 1) -> uuid.UUID:
    """Deterministic id of the `seq`-th event of a job's `attempt`-th run."""
    return uuid.uuid5(_EVENT_NAMESPACE, f"{job_id}/{attempt}/{seq}")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Codec(StrEnum):
    """Target encoding. Only lossy JPEG 2000 (transfer syntax 1.2.840.10008.1.2.4.91) so far."""

    J2K_LOSSY = "j2k-lossy"


class EventBase(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    job_id: uuid.UUID
    tenant: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    seq: int = Field(ge=0, description="Position of this event in its job's history")
    occurred_at: AwareDatetime = Field(default_factory=utc_now)

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class CompressionRequested(EventBase):
    """A tenant asked for a series to be compressed (published by the API)."""

    type: Literal["CompressionRequested"] = "CompressionRequested"
    version: Literal[1] = 1
    source_uri: S3Uri = Field(description="S3 prefix holding the DICOM slices")
    target_uri: S3Uri = Field(description="S3 prefix the ZIP artifact is written under")
    compression_rate: float = Field(
        gt=1, le=1000, description="Original pixel bytes / codestream bytes, as gdcmconv means it"
    )
    codec: Codec = Codec.J2K_LOSSY
    anonymize: bool = False
    output_filename: str | None = Field(
        default=None, description="ZIP file name under target_uri; default '<job_id>.zip'"
    )
    overwrite_existing: bool = False


class JobStarted(EventBase):
    """A compressor took the job and listed its slices."""

    type: Literal["JobStarted"] = "JobStarted"
    version: Literal[1] = 1
    total_slices: int = Field(ge=0)
    total_bytes: int = Field(ge=0, description="Sum of the source objects' sizes")
    worker: str = Field(description="Which compressor instance runs the job")
    attempt: int = Field(default=1, ge=1)


class SliceEncoded(EventBase):
    """One slice was encoded; it is in the job's artifact as `entry_name`."""

    type: Literal["SliceEncoded"] = "SliceEncoded"
    version: Literal[1] = 1
    slice_index: int = Field(ge=0)
    total_slices: int = Field(ge=1)
    source_key: str
    entry_name: str
    bytes_in: int = Field(ge=0, description="Size of the source DICOM file")
    bytes_out: int = Field(ge=0, description="Size of the encoded DICOM file")
    ratio: float = Field(gt=0, description="Measured pixel bytes / codestream bytes")
    encode_ms: float = Field(ge=0)


class SliceFailed(EventBase):
    """One slice could not be encoded; the job goes on without it."""

    type: Literal["SliceFailed"] = "SliceFailed"
    version: Literal[1] = 1
    slice_index: int = Field(ge=0)
    total_slices: int = Field(ge=1)
    source_key: str
    reason: str


class JobCompleted(EventBase):
    """The artifact is written; the job is over."""

    type: Literal["JobCompleted"] = "JobCompleted"
    version: Literal[1] = 1
    slices_encoded: int = Field(ge=0)
    slices_failed: int = Field(ge=0)
    bytes_in: int = Field(ge=0)
    bytes_out: int = Field(ge=0, description="Sum of the encoded DICOM files' sizes")
    ratio: float = Field(ge=0, description="Pixel bytes / codestream bytes over the whole series")
    artifact_uri: str
    artifact_bytes: int = Field(ge=0)
    download_ms: float = Field(ge=0)
    encode_ms: float = Field(ge=0, description="CPU time spent encoding, summed over slices")
    upload_ms: float = Field(ge=0)
    wall_ms: float = Field(ge=0)


class JobFailed(EventBase):
    """The job could not be done; `reason` says why and what to do."""

    type: Literal["JobFailed"] = "JobFailed"
    version: Literal[1] = 1
    error_code: str = Field(description="Stable machine-readable cause, e.g. 'source-empty'")
    reason: str


class JobCancelled(EventBase):
    """The job was cancelled before it finished."""

    type: Literal["JobCancelled"] = "JobCancelled"
    version: Literal[1] = 1
    reason: str = ""


Event = Annotated[
    CompressionRequested
    | JobStarted
    | SliceEncoded
    | SliceFailed
    | JobCompleted
    | JobFailed
    | JobCancelled,
    Field(discriminator="type"),
]

TerminalEvent = JobCompleted | JobFailed | JobCancelled

EVENT_TYPES: tuple[type[EventBase], ...] = (
    CompressionRequested,
    JobStarted,
    SliceEncoded,
    SliceFailed,
    JobCompleted,
    JobFailed,
    JobCancelled,
)
