"""The envelope every event shares, and the small types the events of every stream use.

Kept apart from the event types so the product events (`products`) and the job events (`events`)
can both build on it without importing each other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

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
    """Target encoding, with its DICOM transfer syntax."""

    J2K_LOSSY = "j2k-lossy"  # JPEG 2000, 1.2.840.10008.1.2.4.91
    J2K_LOSSLESS = "j2k-lossless"  # JPEG 2000 lossless, 1.2.840.10008.1.2.4.90
    HTJ2K_LOSSY = "htj2k-lossy"  # High-Throughput JPEG 2000, 1.2.840.10008.1.2.4.203
    HTJ2K_LOSSLESS = "htj2k-lossless"  # HTJ2K lossless, 1.2.840.10008.1.2.4.201

    @property
    def lossless(self) -> bool:
        return self in (Codec.J2K_LOSSLESS, Codec.HTJ2K_LOSSLESS)


# The one rule for a tenant's name, wherever one is read (events, commands, keys).
Tenant = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
]


class Envelope(BaseModel):
    """What every event of every stream carries, besides the id of its stream (a job's, an
    ingest's)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: uuid.UUID
    tenant: Tenant
    seq: int = Field(ge=0, description="Position of this event in its stream's history")
    attempt: int = Field(
        default=1, ge=1, description="Which run emitted it (a re-run after a crash: 2+)"
    )
    occurred_at: AwareDatetime = Field(default_factory=utc_now)

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class EventBase(Envelope):
    """The envelope of every job event."""

    job_id: uuid.UUID


# A DICOM UID (PS3.5 9.1): digits and dots, at most 64 characters. Only UIDs of this shape are
# ever used in an S3 key, so a crafted header cannot name another tenant's objects.
DicomUid = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)*$", max_length=64)]
