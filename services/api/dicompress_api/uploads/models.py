"""Request and response bodies of the upload routes (camelCase JSON)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from dicompress_api.web.camel import CAMEL


class UploadType(StrEnum):
    """What an upload may be: a ZIP of a study, or one DICOM file."""

    ZIP = "application/zip"
    DICOM = "application/dicom"


class UploadState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    ABORTED = "aborted"


class UploadRequest(BaseModel):
    """Body of `POST /uploads`."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    file_name: str = Field(
        min_length=1,
        max_length=255,
        description="The file's name; only a safe form of it (no folders, [A-Za-z0-9._-]) is "
        "used in the S3 key",
    )
    size: int = Field(ge=1, description="Exact size in bytes")
    content_type: UploadType = Field(description="application/zip or application/dicom")


class ReceivedPartView(BaseModel):
    """A part S3 already holds: do not send it again."""

    model_config = CAMEL

    part_number: int
    size: int
    etag: str


class MissingPartView(BaseModel):
    """A part still to send: PUT exactly `size` bytes (bytes [(n-1)*partSize, ...) of the
    file) to `url`, and keep the ETag header of the answer if you complete with a parts list."""

    model_config = CAMEL

    part_number: int
    size: int
    url: str


class UploadView(BaseModel):
    """An upload: what it is, what S3 has received, and where to send the rest."""

    model_config = CAMEL

    upload_id: uuid.UUID
    state: UploadState
    file_name: str
    content_type: str
    size: int
    part_size: int
    part_count: int
    received_bytes: int
    parts: list[ReceivedPartView] = Field(description="Parts S3 holds, by number")
    missing_parts: list[MissingPartView] = Field(description="Parts to send, with fresh URLs")
    urls_expire_at: datetime | None = Field(description="When the part URLs stop working")
    expires_at: datetime | None = Field(
        description="When an upload still open is aborted by the sweep"
    )
    ingest_id: uuid.UUID | None = Field(description="Once completed: the ingest it started")
    status_url: str


class PartEtag(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=200)


class CompleteRequest(BaseModel):
    """Body of `POST /uploads/{id}/complete` (optional): the parts as the client sent them;
    checked against what S3 holds. Without it the server lists the parts itself."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    parts: list[PartEtag] | None = Field(default=None, max_length=10_000)


class UploadAccepted(BaseModel):
    """The upload is in S3 and its ingest is queued: follow it at `statusUrl`."""

    model_config = CAMEL

    upload_id: uuid.UUID
    ingest_id: uuid.UUID
    file_name: str
    size: int
    etag: str
    channel: str
    status_url: str
